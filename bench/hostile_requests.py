"""What hostile requests cost `reasonloop serve` (its own process, tiny model by default).

Every figure is measured in this run, on this machine, as the server's RSS (sampled every
10 ms from /proc) and wall time:

1. Oversized prompts: `--prompts` concurrent gRPC Generate calls of 3.9 MB text each (just
   under gRPC's 4 MiB message limit): how they are answered, the RSS peak over the idle RSS.
2. An oversized body: one `--body-mb` MB JSON body to /v1/completions: status, RSS peak.
3. Bad fields: `--bad` Generate calls with a NaN temperature: all INVALID_ARGUMENT, calls/s,
   against the same number of valid 1-token calls.

    uv run python bench/hostile_requests.py [--model tiny-llama] [--prompts 8] [--body-mb 64]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from reasonloop.v1 import inference_pb2 as pb
from reasonloop.v1 import inference_pb2_grpc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def peak_rss(pid: int, work: Callable[[], object]) -> tuple[object, float]:
    """Run `work`, sampling the process' RSS every 10 ms; returns its result and the peak."""
    peak, done = rss_mb(pid), threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return result, peak


def outcome(call: Callable[[], object]) -> str:
    try:
        call()
        return "OK"
    except grpc.RpcError as error:
        return error.code().name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-llama")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--body-mb", type=int, default=64)
    parser.add_argument("--bad", type=int, default=500)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that `finally` stops the server

    grpc_port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "reasonloop.cli", "serve", "--model", args.model,
         "--port", str(grpc_port), "--openai-port", str(http_port)],
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,
    )  # fmt: skip
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        grpc.channel_ready_future(channel).result(timeout=300)
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        one = pb.SamplingParams(max_new_tokens=1)
        stub.Generate(pb.GenerateRequest(prompts=[pb.Prompt(text="warm up")], params=one))
        idle = rss_mb(process.pid)
        print(f"server RSS idle: {idle:.0f} MB")

        def calls(request: pb.GenerateRequest, count: int, threads: int) -> Counter[str]:
            with ThreadPoolExecutor(threads) as pool:
                return Counter(
                    pool.map(lambda _: outcome(lambda: stub.Generate(request)), range(count))
                )

        big = pb.GenerateRequest(prompts=[pb.Prompt(text="x" * 3_900_000)], params=one)
        started = time.perf_counter()
        answers, peak = peak_rss(process.pid, lambda: calls(big, args.prompts, args.prompts))
        took = time.perf_counter() - started
        print(f"{args.prompts} x 3.9 MB prompts: {dict(answers)} in {took:.2f} s; "
              f"RSS peak {peak:.0f} MB (+{peak - idle:.0f} MB)")  # fmt: skip

        def post_body(chunked: bool) -> str:
            """Send the body (declared or chunked) until the server answers or closes."""
            head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            size = args.body_mb * 1024 * 1024
            head += (
                b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % size
            )
            chunk = b"y" * 65536
            if chunked:
                chunk = b"%x\r\n%s\r\n" % (len(chunk), chunk)
            with socket.create_connection(("127.0.0.1", http_port), timeout=300) as sock:
                sock.sendall(head + b"\r\n")
                try:
                    for _ in range(size // 65536):
                        sock.sendall(chunk)
                    reply = sock.recv(4096)
                except OSError as error:  # closed while sending: read what it answered
                    try:
                        reply = sock.recv(4096)
                    except OSError:
                        return f"closed ({type(error).__name__})"
            return reply.split(b"\r\n")[0].decode() or "closed"

        for chunked in (False, True):
            status, peak = peak_rss(process.pid, lambda chunked=chunked: post_body(chunked))
            how = "chunked" if chunked else "with Content-Length"
            growth = f"RSS peak {peak:.0f} MB (+{peak - idle:.0f} MB)"
            print(f"{args.body_mb} MB body {how}: {status}; {growth}")

        nan = pb.GenerateRequest(
            prompts=[pb.Prompt(text="x")], params=pb.SamplingParams(temperature=float("nan"))
        )
        good = pb.GenerateRequest(prompts=[pb.Prompt(text="x")], params=one)
        rates = {}
        for name, request in (("NaN temperature", nan), ("valid 1-token", good)):
            started = time.perf_counter()
            answers = calls(request, args.bad, 16)
            rates[name] = args.bad / (time.perf_counter() - started)
            print(f"{args.bad} {name} calls: {dict(answers)}, {rates[name]:.0f} calls/s")
        print(f"refusing a bad call is {rates['NaN temperature'] / rates['valid 1-token']:.1f}x "
              "the rate of serving a 1-token call")  # fmt: skip
        print(f"server RSS after: {rss_mb(process.pid):.0f} MB; alive: {process.poll() is None}")
    finally:
        process.terminate()
        process.wait(timeout=60)


if __name__ == "__main__":
    main()
