"""Admission on a real Inference server: the token budget of a batch, Score's item cap and
chunks, the RPC concurrency limit, and health checks answered under load."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from reasonloop.rpc import InferenceClient
from reasonloop.rpc.engine import EngineLimits
from reasonloop.sampling import SamplingParams
from reasonloop.v1 import inference_pb2 as pb
from reasonloop.v1 import inference_pb2_grpc


def stub_for(address: str) -> inference_pb2_grpc.InferenceServiceStub:
    return inference_pb2_grpc.InferenceServiceStub(grpc.insecure_channel(address))


def generate(text: str = "hi", **params: object) -> pb.GenerateRequest:
    return pb.GenerateRequest(prompts=[pb.Prompt(text=text)], params=pb.SamplingParams(**params))


def long_call(**params: object) -> pb.GenerateRequest:
    """A request that decodes until it is cancelled (the tests cancel it)."""
    return generate(max_new_tokens=4000, ignore_eos=True, temperature=0, **params)


def wait_until(condition, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def health_status(address: str, timeout_s: float) -> int:
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(address))
    request = health_pb2.HealthCheckRequest(service="reasonloop.v1.InferenceService")
    return health.Check(request, timeout=timeout_s).status


def test_a_request_over_the_token_budget_is_refused_naming_the_field(start_inference) -> None:
    server = start_inference(EngineLimits(max_batch_tokens=1000, max_new_tokens=4000))
    stub = stub_for(f"127.0.0.1:{server.port}")
    # 4 rows x (300 prompt tokens + 200 steps) = 2000 positions, twice the budget
    over = pb.GenerateRequest(
        prompts=[pb.Prompt(text="x" * 300)] * 2, params=pb.SamplingParams(max_new_tokens=200, n=2)
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.Generate(over)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith("max_new_tokens: 4 rows x (300 prompt tokens")
    assert "2000 tokens is above the 1000" in error.value.details()
    # one row of the same request fits: 300 + 200 = 500 positions
    within = generate("x" * 300, max_new_tokens=200, temperature=0)
    assert len(stub.Generate(within).completions) == 1


def test_the_issues_requests_are_refused_before_they_allocate(start_inference) -> None:
    server = start_inference()  # the default limits
    stub = stub_for(f"127.0.0.1:{server.port}")
    # 64 prompts x 4,000 tokens (one byte, one token) tried to allocate 4 GB
    wide = pb.GenerateRequest(
        prompts=[pb.Prompt(text="x" * 4000)] * 64, params=pb.SamplingParams(max_new_tokens=16)
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.Generate(wide)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == (
        "max_new_tokens: 64 rows x (4000 prompt tokens + 16 decoding steps) = 257024 tokens "
        "is above the 32768 one batch holds; ask for fewer tokens, samples or prompts"
    )
    # 1,000 Score items and one 4,000-token continuation tried 16 GB
    items = [pb.ScoreItem(prompt=pb.Prompt(text="a"), continuation="b")] * 999
    items.append(pb.ScoreItem(prompt=pb.Prompt(text="a"), continuation="c" * 4000))
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(pb.ScoreRequest(items=items))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "items: 1000 items, the limit is 256"
    # the long continuation alone is one chunk of its own
    (alone,) = stub.Score(pb.ScoreRequest(items=items[-1:])).results
    assert len(alone.tokens) == 4000


def test_batches_are_joined_only_within_the_token_budget(tiny) -> None:
    from reasonloop.rpc.engine import InferenceEngine

    # each request claims 1 row x (2 prompt tokens + 300 steps) = 302 positions: two fit in 700
    engine = InferenceEngine(tiny, EngineLimits(max_batch_tokens=700, max_new_tokens=300))
    params = SamplingParams(max_new_tokens=300, ignore_eos=True, temperature=0)
    requests = [engine.submit(["hi"], params) for _ in range(5)]
    assert [len(r.completions()[0].token_ids) for r in requests] == [300] * 5
    # at most two of the five per batch; the rows budget alone (256) would allow two batches
    assert engine.batches >= 3
    engine.close()


def test_score_caps_its_items_and_runs_them_in_chunks(start_inference) -> None:
    whole = start_inference(EngineLimits(max_score_tokens=4096))
    chunked = start_inference(EngineLimits(max_score_tokens=40, max_score_items=12))
    items = [(f"prompt {i}", " continuation" + "!" * i) for i in range(12)]
    with InferenceClient(f"127.0.0.1:{whole.port}") as client:
        expected = client.score(items)
    with InferenceClient(f"127.0.0.1:{chunked.port}") as client:
        scored = client.score(items)  # 12 items of 21 to 32 positions: one or two per chunk
    assert [[t.token_id for t in r.tokens] for r in scored] == [
        [t.token_id for t in r.tokens] for r in expected
    ]
    assert [t.log_prob for r in scored for t in r.tokens] == pytest.approx(
        [t.log_prob for r in expected for t in r.tokens], abs=1e-4
    )
    stub = stub_for(f"127.0.0.1:{chunked.port}")
    too_many = pb.ScoreRequest(
        items=[pb.ScoreItem(prompt=pb.Prompt(text="a"), continuation="b")] * 13
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(too_many)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "items: 13 items, the limit is 12"
    too_long = pb.ScoreRequest(
        items=[
            pb.ScoreItem(prompt=pb.Prompt(text="a"), continuation="b"),
            pb.ScoreItem(prompt=pb.Prompt(text="a"), continuation="b" * 50),
        ]
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(too_long)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith("items[1]: prompt + continuation are 51 tokens")


def test_the_queue_limit_is_the_real_limit_and_health_answers_under_load(tiny) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    # More waiting calls than the 64 threads the server used to have: every call the engine
    # can hold gets a thread, the excess is refused by the engine's waiting line.
    limits = EngineLimits(max_queue=70, max_batch_rows=1, max_new_tokens=4000)
    engine = InferenceEngine(tiny, limits)
    with serve_inference(engine, ServerOptions(port=0)) as server:
        address = f"127.0.0.1:{server.port}"
        stub = stub_for(address)
        calls = [stub.Generate.future(long_call()) for _ in range(100)]
        refused = lambda: [c for c in calls if c.done()]  # noqa: E731
        wait_until(
            lambda: engine.waiting == limits.max_queue and len(refused()) >= 27,
            "the waiting line is full and the excess refused",
        )
        started = time.monotonic()
        assert health_status(address, timeout_s=10) == health_pb2.HealthCheckResponse.SERVING
        health_s = time.monotonic() - started
        done = refused()
        # the accepted calls were still held (one decodes in ~2 s or more on the tiny model)
        assert engine.waiting >= limits.max_queue - 1
        assert {c.code() for c in done} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        # refused by the full waiting line, or by the RPC limit sized to what the engine holds
        assert all(c.details().endswith("retry later") for c in done)
        # 100 - 70 waiting - 1 decoding (- 1 decoded, on a fast machine)
        assert 27 <= len(done) <= 29
        for call in calls:
            call.cancel()
    assert health_s < 10


def test_calls_beyond_max_concurrent_rpcs_are_refused_and_slots_come_back(tiny) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    engine = InferenceEngine(tiny, EngineLimits(max_new_tokens=4000))
    with serve_inference(engine, ServerOptions(port=0, max_concurrent_rpcs=2)) as server:
        address = f"127.0.0.1:{server.port}"
        stub = stub_for(address)
        calls = [stub.Generate.future(long_call()), stub.GenerateStream(long_call())]
        wait_until(lambda: engine.running + engine.waiting == 2, "both calls are in service")
        with pytest.raises(grpc.RpcError) as error:
            stub.Generate(generate(max_new_tokens=2))
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.value.details() == "the server is busy (2 calls in service); retry later"
        with pytest.raises(grpc.RpcError) as error:
            next(stub.GenerateStream(generate(max_new_tokens=2)))
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert health_status(address, timeout_s=10) == health_pb2.HealthCheckResponse.SERVING
        for call in calls:
            call.cancel()

        def two_at_once() -> bool:
            futures = [stub.Generate.future(generate(max_new_tokens=2)) for _ in range(2)]
            return all(f.exception() is None for f in futures)

        # the cancelled calls (a unary one, a stream) gave their slots back
        wait_until(two_at_once, "the slots came back", timeout_s=30)


def test_limits_must_be_positive() -> None:
    from reasonloop.rpc import ServerOptions

    with pytest.raises(ValueError, match=r"^max_batch_tokens must be > 0, got 0$"):
        EngineLimits(max_batch_tokens=0)
    with pytest.raises(ValueError, match=r"^grammar_compile_s must be > 0, got -1\.0$"):
        EngineLimits(grammar_compile_s=-1.0)
    with pytest.raises(ValueError, match=r"^max_concurrent_rpcs must be >= 1, got 0$"):
        ServerOptions(max_concurrent_rpcs=0)
