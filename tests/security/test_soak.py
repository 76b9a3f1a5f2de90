"""A soak of `reasonloop serve` in its own process (tiny model, gRPC over TLS and the OpenAI
port over HTTPS, localhost only): rounds of concurrent good, bad, cancelled, timed-out and
streaming requests, half the streams cancelled mid-way. Afterwards the process is still up,
health says SERVING, a known prompt gives its known text, the server's RSS is back within
`RSS_MARGIN_MB` of where it was after a warm-up round, nothing was logged as a traceback, and
SIGTERM still stops it with exit status 0.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from reasonloop.v1 import inference_pb2 as pb
from reasonloop.v1 import inference_pb2_grpc

ROUNDS = 6
REQUESTS_PER_ROUND = 128
CONCURRENCY = 32
RSS_MARGIN_MB = 150
KNOWN = pb.GenerateRequest(
    prompts=[pb.Prompt(text="known prompt")],
    params=pb.SamplingParams(max_new_tokens=16, temperature=0, ignore_eos=True),
)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


class Soak:
    """The clients of one server process: each `kind` of request, and what it may answer."""

    def __init__(self, grpc_port: int, http_port: int, cert: Path) -> None:
        credentials = grpc.ssl_channel_credentials(cert.read_bytes())
        self.channel = grpc.secure_channel(f"localhost:{grpc_port}", credentials)
        self.stub = inference_pb2_grpc.InferenceServiceStub(self.channel)
        self.http_port = http_port
        self.tls = ssl.create_default_context(cafile=cert)

    def run(self, i: int) -> str:
        kind = ("generate", "cancelled stream", "stream", "bad grpc", "bad http",
                "dropped http stream", "deadline", "http")[i % 8]  # fmt: skip
        try:
            return f"{kind}: {getattr(self, kind.replace(' ', '_'))(i)}"
        except grpc.RpcError as error:
            return f"{kind}: {error.code().name}"

    def generate(self, i: int) -> str:
        request = pb.GenerateRequest(
            prompts=[pb.Prompt(text=f"good {i}")], params=pb.SamplingParams(max_new_tokens=20)
        )
        return "ok" if self.stub.Generate(request, timeout=120).completions else "empty"

    def _stream(self, i: int, cancel_after: int | None) -> str:
        params = pb.SamplingParams(max_new_tokens=40, ignore_eos=True, n=1 + i % 3)
        request = pb.GenerateStreamRequest(prompts=[pb.Prompt(text=f"s {i}")], params=params)
        stream = self.stub.GenerateStream(request, timeout=120)
        finished = 0
        for k, message in enumerate(stream):
            if cancel_after is not None and k >= cancel_after:
                stream.cancel()
                return "cancelled"
            finished += message.HasField("completion")
        return "ok" if finished == params.n else f"{finished} of {params.n}"

    def cancelled_stream(self, i: int) -> str:
        return self._stream(i, cancel_after=i % 5)

    def stream(self, i: int) -> str:
        return self._stream(i, cancel_after=None)

    def bad_grpc(self, i: int) -> str:
        request = pb.GenerateRequest(
            prompts=[pb.Prompt(text="x")], params=pb.SamplingParams(temperature=float("nan"))
        )
        self.stub.Generate(request, timeout=120)
        return "accepted"

    def _post(self, body: dict, read: bool = True) -> int:
        connection = http.client.HTTPSConnection(
            "localhost", self.http_port, timeout=120, context=self.tls
        )
        try:
            headers = {"Content-Type": "application/json"}
            connection.request("POST", "/v1/completions", json.dumps(body).encode(), headers)
            response = connection.getresponse()
            if read:
                response.read()
            else:
                response.read(1)  # then leave: the server must cancel the stream
            return response.status
        finally:
            connection.close()

    def bad_http(self, i: int) -> int:
        return self._post({"model": "tiny-llama", "prompt": [1, 999999 + i], "max_tokens": 4})

    def dropped_http_stream(self, i: int) -> int:
        body = {"model": "tiny-llama", "prompt": f"d {i}", "max_tokens": 60, "stream": True}
        return self._post({**body, "ignore_eos": True}, read=False)

    def deadline(self, i: int) -> str:
        request = pb.GenerateRequest(
            prompts=[pb.Prompt(text=f"late {i}")],
            params=pb.SamplingParams(max_new_tokens=200, ignore_eos=True),
        )
        self.stub.Generate(request, timeout=0.05 * (1 + i % 4))
        return "ok"

    def http(self, i: int) -> int:
        return self._post({"model": "tiny-llama", "prompt": f"h {i}", "max_tokens": 8})


ALLOWED = {
    "generate: ok",
    "cancelled stream: cancelled",
    "cancelled stream: ok",  # it finished before the event it was to be cancelled at
    "stream: ok",
    "bad grpc: INVALID_ARGUMENT",
    "bad http: 400",
    "dropped http stream: 200",
    "deadline: ok",
    "deadline: DEADLINE_EXCEEDED",
    "http: 200",
}


@pytest.mark.slow
def test_soak_of_mixed_requests_leaves_the_server_serving(
    tls_files: tuple[Path, Path], tmp_path: Path, free_port: Callable[[], int]
) -> None:
    cert, key = tls_files
    grpc_port, http_port = free_port(), free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "reasonloop.cli", "serve", "--model", "tiny-llama",
             "--device", "cpu", "--port", str(grpc_port), "--openai-port", str(http_port),
             "--tls-cert", str(cert), "--tls-key", str(key)],
            stdout=out,
            stderr=out,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"},
            start_new_session=True,  # no signal meant for the test reaches it
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while "OpenAI-compatible API on https://" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        soak = Soak(grpc_port, http_port, cert)
        known = soak.stub.Generate(KNOWN, timeout=120).completions[0].text
        outcomes: Counter[str] = Counter()
        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            for round_ in range(ROUNDS + 1):  # round 0 warms up: RSS is measured after it
                outcomes.update(pool.map(soak.run, range(REQUESTS_PER_ROUND)))
                assert process.poll() is None, log.read_text()
                if round_ == 0:
                    warm_rss = rss_mb(process.pid)
        soak_s = time.monotonic() - started
        assert set(outcomes) <= ALLOWED, outcomes
        assert outcomes["cancelled stream: cancelled"] >= ROUNDS * REQUESTS_PER_ROUND // 16

        health = health_pb2_grpc.HealthStub(soak.channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        assert soak.stub.Generate(KNOWN, timeout=120).completions[0].text == known
        rss = rss_mb(process.pid)
        print(f"soak: {sum(outcomes.values())} requests in {soak_s:.1f} s, {dict(outcomes)}; "
              f"RSS {warm_rss:.0f} MB after warm-up, {rss:.0f} MB after")  # fmt: skip
        assert rss < warm_rss + RSS_MARGIN_MB
        soak.channel.close()
        assert "Traceback" not in log.read_text()

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "SIGTERM" in log.read_text()  # a stop always says why
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
