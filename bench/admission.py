"""Admission under load on a real Inference server (tiny model by default).

Every figure is measured in this run, on this machine; the ratios are what to read.

1. Load: `--calls` concurrent Generate calls that decode until cancelled, against a waiting
   line of `--max-queue`: how many were refused (RESOURCE_EXHAUSTED) and how long health
   checks took while the rest were held, against health checks on the idle server.
2. Head of line: a small request's latency while a grammar that compiles for seconds is
   being prepared, against the same request alone.
3. End markers: a request whose thinking ends with a 64-character marker (64 tokens, the
   most allowed, for the tiny model's bytes) against one with "</think>" (each marker token
   is one decoding step).

    uv run python bench/admission.py [--model tiny-llama] [--calls 300] [--max-queue 256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import grpc
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc

from reasonloop.limits import MAX_END_MARKER_TOKENS
from reasonloop.models.loading import load_model
from reasonloop.rpc import ServerOptions
from reasonloop.rpc.engine import EngineLimits, InferenceEngine
from reasonloop.rpc.inference_server import serve_inference
from reasonloop.v1 import inference_pb2 as pb
from reasonloop.v1 import inference_pb2_grpc


def generate(**params: object) -> pb.GenerateRequest:
    return pb.GenerateRequest(prompts=[pb.Prompt(text="hi")], params=pb.SamplingParams(**params))


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def health_times(address: str, count: int) -> list[float]:
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(address))
    request = health_pb2.HealthCheckRequest(service="")
    return [timed(lambda: health.Check(request, timeout=10)) for _ in range(count)]


def load(loaded, calls: int, max_queue: int) -> None:
    engine = InferenceEngine(loaded, EngineLimits(max_queue=max_queue, max_new_tokens=4000))
    with serve_inference(engine, ServerOptions(port=0)) as server:
        address = f"127.0.0.1:{server.port}"
        idle = health_times(address, 20)
        stub = inference_pb2_grpc.InferenceServiceStub(grpc.insecure_channel(address))
        request = generate(max_new_tokens=4000, ignore_eos=True, temperature=0)
        futures = [stub.Generate.future(request) for _ in range(calls)]
        deadline = time.monotonic() + 120
        while engine.waiting + engine.running + sum(f.done() for f in futures) < calls:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        loaded_times = health_times(address, 20)
        refused = [
            f for f in futures if f.done() and f.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        ]
        held = engine.waiting + engine.running
        for future in futures:
            future.cancel()
    print(
        f"load: {calls} calls, --max-queue {max_queue}: {len(refused)} RESOURCE_EXHAUSTED, "
        f"{held} held by the engine; health median {statistics.median(idle) * 1e3:.1f} ms idle, "
        f"{statistics.median(loaded_times) * 1e3:.1f} ms (max {max(loaded_times) * 1e3:.1f}) "
        "under load"
    )


def head_of_line(loaded) -> None:
    wide = json.dumps(
        {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(1000)}}
    )
    engine = InferenceEngine(loaded, EngineLimits(grammar_compile_s=30.0))
    with serve_inference(engine, ServerOptions(port=0)) as server:
        stub = inference_pb2_grpc.InferenceServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.port}")
        )
        stub.Generate(generate(max_new_tokens=2, grammar=pb.Grammar(regex="[ab]")))  # warm up
        small = generate(max_new_tokens=8, temperature=0)
        alone = statistics.median(timed(lambda: stub.Generate(small)) for _ in range(10))
        costly = stub.Generate.future(
            generate(max_new_tokens=2, grammar=pb.Grammar(json_schema=wide))
        )
        started = time.perf_counter()
        during = []
        while not costly.done() and len(during) < 50:
            during.append(timed(lambda: stub.Generate(small)))
        costly.exception()
        compile_s = time.perf_counter() - started
    print(
        f"head of line: a 1,000-property schema took {compile_s:.1f} s to prepare; "
        f"{len(during)} small requests meanwhile, median {statistics.median(during) * 1e3:.0f} ms "
        f"against {alone * 1e3:.0f} ms alone (x{statistics.median(during) / alone:.1f})"
    )


def end_markers(loaded) -> None:
    engine = InferenceEngine(loaded)
    with serve_inference(engine, ServerOptions(port=0)) as server:
        stub = inference_pb2_grpc.InferenceServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.port}")
        )

        def request(marker: str) -> pb.GenerateRequest:
            thinking = pb.ThinkingConfig(
                mode=pb.THINKING_MODE_HARD, max_tokens=4, end_marker=marker
            )
            return generate(max_new_tokens=2, temperature=0, thinking=thinking)

        longest = "x" * MAX_END_MARKER_TOKENS  # the tiny model's bytes: the most tokens allowed
        short = statistics.median(
            timed(lambda: stub.Generate(request("</think>"))) for _ in range(5)
        )
        long = statistics.median(timed(lambda: stub.Generate(request(longest))) for _ in range(5))
    print(
        f"end markers: {len(longest)}-character marker {long * 1e3:.0f} ms, '</think>' "
        f"{short * 1e3:.0f} ms (x{long / short:.1f}); 3,000 characters are refused"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-llama")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--max-queue", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_model(args.model, device="cpu")
    load(loaded, args.calls, args.max_queue)
    head_of_line(loaded)
    end_markers(loaded)


if __name__ == "__main__":
    main()
