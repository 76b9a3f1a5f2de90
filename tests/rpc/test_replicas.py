"""Inference replicas behind one client: calls spread round robin, and when a replica is
SIGKILLed mid-stream its calls fail over to the others; none is lost or wrong."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reasonloop.launcher import LaunchConfig, Launcher, ServerSpec
from reasonloop.rpc import AsyncInferenceClient, InferenceClient
from reasonloop.sampling import SamplingParams

REQUESTS = 40
KILL_AFTER = 15  # completed requests before one replica is killed
THREADS = 4
PARAMS = SamplingParams(max_new_tokens=16, temperature=0, ignore_eos=True)
PROMPTS = [f"request {i}:" for i in range(REQUESTS)]

pytestmark = pytest.mark.slow  # three processes each import torch (~20 s, more when busy)


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, free_port: Callable[[], int]
) -> Iterator[Launcher]:
    """Three `reasonloop serve` processes of the tiny model, each reporting its own name."""
    servers = []
    for name in ("a", "b", "c"):
        port = free_port()
        command = [sys.executable, "-m", "reasonloop.cli", "serve", "--model", "tiny-llama",
                   "--model-name", name, "--port", str(port)]  # fmt: skip
        # One torch thread each: three multi-threaded torch processes on a few cores slow
        # each other down many times over.
        env = {"OMP_NUM_THREADS": "1"}
        servers.append(ServerSpec(name=name, command=command, port=port, env=env))
    logs: Path = tmp_path_factory.mktemp("replica-logs")
    with Launcher(LaunchConfig(server=servers), logs_dir=logs) as running:
        yield running


def expected_texts(replicas: Launcher, survivor: str) -> list[str]:
    with InferenceClient(replicas.addresses[survivor]) as client:
        return [g[0].text for g in client.generate(PROMPTS, PARAMS)]


def check(
    replicas: Launcher, served_by: list[str], texts: list[str], before_kill: Counter, killed: str
) -> None:
    survivor = next(name for name in served_by if name != killed)
    assert len(texts) == REQUESTS
    assert texts == expected_texts(replicas, survivor)  # greedy: the same from any replica
    assert set(before_kill) == {killed, survivor}, before_kill  # both served before the kill
    assert sum(before_kill.values()) >= KILL_AFTER


def test_blocking_client_fails_over_when_a_replica_is_killed(replicas: Launcher) -> None:
    pair, killed = ["a", "b"], "a"
    served: list[str] = [""] * REQUESTS
    texts: list[str] = [""] * REQUESTS
    done, before_kill = Counter[str](), Counter[str]()
    lock = threading.Lock()
    with InferenceClient([replicas.addresses[n] for n in pair]) as client:

        def one(i: int) -> None:
            response = client.generate_response([PROMPTS[i]], PARAMS, timeout_s=120)
            served[i], texts[i] = response.model, response.completions[0].text
            with lock:
                done[response.model] += 1
                if sum(done.values()) == KILL_AFTER:
                    before_kill.update(done)
                    os.kill(replicas.pids[killed], signal.SIGKILL)

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(one, range(REQUESTS)))  # re-raises any failed call
    check(replicas, pair, texts, before_kill, killed)
    assert served.count(killed) <= before_kill[killed] + THREADS  # in flight when it died


def test_async_client_fails_over_when_a_replica_is_killed(replicas: Launcher) -> None:
    pair, killed = ["b", "c"], "c"
    before_kill = Counter[str]()

    async def main() -> list[str]:
        done = Counter[str]()
        slots = asyncio.Semaphore(THREADS)
        async with AsyncInferenceClient([replicas.addresses[n] for n in pair]) as client:

            async def one(prompt: str) -> str:
                async with slots:
                    response = await client.generate_response([prompt], PARAMS, timeout_s=120)
                done[response.model] += 1
                if sum(done.values()) == KILL_AFTER:
                    before_kill.update(done)
                    os.kill(replicas.pids[killed], signal.SIGKILL)
                return response.completions[0].text

            return await asyncio.gather(*(one(p) for p in PROMPTS))

    texts = asyncio.run(main())
    check(replicas, pair, texts, before_kill, killed)
