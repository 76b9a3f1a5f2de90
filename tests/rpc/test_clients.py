"""Clients: round robin over replicas, retries of UNAVAILABLE, asyncio, another process."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import grpc
import pytest

from reasonloop.rpc import (
    AsyncBenchmarkClient,
    AsyncInferenceClient,
    BenchmarkClient,
    InferenceClient,
    calls,
)
from reasonloop.rpc.clients import channel_target
from reasonloop.sampling import SamplingParams

GREEDY = SamplingParams(max_new_tokens=6, temperature=0)


def test_channel_target() -> None:
    assert channel_target("grpc://example.org:1") == "example.org:1"
    assert channel_target(["localhost:1", "127.0.0.2:2"]) == "ipv4:127.0.0.1:1,127.0.0.2:2"
    assert channel_target(["[::1]:5", "[::1]:6"]) == "ipv6:[::1]:5,[::1]:6"
    for bad in ([], [""], ["a:1", "nohostport"]):
        with pytest.raises(ValueError):
            channel_target(bad)


def test_blocking_and_asyncio_clients_share_each_call() -> None:
    """Each call is written once (`reasonloop.rpc.calls`): both clients of a service have it,
    with its parameters, and its checks refuse a bad argument before anything is sent."""
    services = [
        (
            InferenceClient,
            AsyncInferenceClient,
            ["generate", "generate_response", "stream", "score", "model_info"],
        ),
        (BenchmarkClient, AsyncBenchmarkClient, ["info", "list_tasks", "tasks", "task", "grade"]),
    ]
    for blocking, aio, names in services:
        for name in names:
            signature = inspect.signature(getattr(blocking, name))
            assert signature == inspect.signature(getattr(aio, name)), name
            client, *parameters = signature.parameters.values()
            assert client.name == "self"
            assert parameters == list(inspect.signature(getattr(calls, name)).parameters.values())

    async def refused() -> str:
        async with AsyncInferenceClient("127.0.0.1:1") as client:
            with pytest.raises(ValueError) as error:
                await client.generate("one string")
            return str(error.value)

    with InferenceClient("127.0.0.1:1") as client, pytest.raises(ValueError) as error:
        client.generate("one string")
    assert (
        str(error.value)
        == asyncio.run(refused())
        == ("prompts must be a list of prompts, not one string")
    )


def test_round_robin_spreads_calls_over_replicas(tiny) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    engines = [InferenceEngine(tiny), InferenceEngine(tiny)]
    servers = [serve_inference(e, ServerOptions(port=0)) for e in engines]
    try:
        addresses = [f"127.0.0.1:{s.port}" for s in servers]
        with InferenceClient(addresses) as client:
            texts = [client.generate([f"p{i}"], GREEDY)[0][0].text for i in range(12)]
        assert all(e.served >= 3 for e in engines), [e.served for e in engines]
        with InferenceClient(addresses[0]) as single:
            assert texts == [single.generate([f"p{i}"], GREEDY)[0][0].text for i in range(12)]
    finally:
        for s in servers:
            s.stop(grace_s=0)


def test_unavailable_is_retried_until_the_server_is_up(tiny, free_port: Callable[[], int]) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    port = free_port()
    started: list = []
    timer = threading.Timer(
        0.5,
        lambda: started.append(serve_inference(InferenceEngine(tiny), ServerOptions(port=port))),
    )
    timer.start()
    try:
        with InferenceClient(f"127.0.0.1:{port}") as client:
            info = client.model_info(timeout_s=20)  # first attempt finds nobody listening
        assert info.model == "tiny-llama"
    finally:
        timer.join()
        for s in started:
            s.stop(grace_s=0)


def test_async_inference_client(address) -> None:
    async def main() -> tuple[list, list, list]:
        async with AsyncInferenceClient(address) as client:
            together = await asyncio.gather(*(client.generate([f"a{i}"], GREEDY) for i in range(8)))
            streamed = [m async for m in client.stream(["a0"], GREEDY)]
            scored = await client.score([("a", "b")])
            return together, streamed, scored

    together, streamed, scored = asyncio.run(main())
    with InferenceClient(address) as client:
        assert [g[0][0].text for g in together] == [
            client.generate([f"a{i}"], GREEDY)[0][0].text for i in range(8)
        ]
    assert "".join(m.text_delta for m in streamed) == together[0][0][0].text
    assert scored[0].total_log_prob < 0


def test_deadline_applies(address) -> None:
    params = SamplingParams(max_new_tokens=2000, ignore_eos=True, temperature=0, n=8)
    with InferenceClient(address) as client, pytest.raises(grpc.RpcError) as error:
        client.generate(["slow"], params, timeout_s=0.2)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.slow
def test_serve_cli_in_another_process_stops_gracefully_on_sigterm(
    free_port: Callable[[], int],
) -> None:
    """`reasonloop serve` in its own process; a request in flight when SIGTERM arrives
    still completes, then the process exits 0."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "reasonloop.cli", "serve", "--model", "tiny-llama",
         "--port", str(port), "--max-new-tokens", "4000"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        deadline = time.monotonic() + 120
        while "serving" not in line:
            assert line or process.poll() is None, "server exited early"
            assert time.monotonic() < deadline
            line = process.stderr.readline()
        assert re.search(rf"127\.0\.0\.1:{port}", line)
        with InferenceClient(f"127.0.0.1:{port}") as client:
            # long enough to be in flight at the signal, short enough to finish within the
            # 30 s grace on a loaded machine (800 tokens sometimes did not)
            stream = client.stream(
                ["long"], SamplingParams(max_new_tokens=200, ignore_eos=True, temperature=0)
            )
            next(stream)
            process.send_signal(signal.SIGTERM)
            rest = list(stream)
        assert len(rest[-1].completion.token_ids) == 200
        try:
            code = process.wait(timeout=120)  # the grace (30 s) and exit, on a loaded machine
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"no exit 120 s after SIGTERM; stderr: {process.communicate()[1][-2000:]}")
        assert code == 0
    finally:
        if process.poll() is None:
            process.kill()
