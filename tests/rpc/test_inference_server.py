"""The Inference service on a real server: each RPC, bad input, batching, cancellation,
health, reflection, auth, TLS and graceful shutdown."""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from reasonloop.rpc import Connection, InferenceClient
from reasonloop.rpc.engine import EngineLimits
from reasonloop.sampling import Grammar, SamplingParams, ThinkingConfig
from reasonloop.v1 import inference_pb2 as pb
from reasonloop.v1 import inference_pb2_grpc

GREEDY = SamplingParams(max_new_tokens=12, temperature=0)


def stub_for(address: str) -> inference_pb2_grpc.InferenceServiceStub:
    return inference_pb2_grpc.InferenceServiceStub(grpc.insecure_channel(address))


def text_prompt(text: str) -> pb.Prompt:
    return pb.Prompt(text=text)


def test_generate_matches_the_in_process_sampler(address, tiny) -> None:
    from reasonloop.sampling.decoder import Sampler

    chat = [{"role": "user", "content": "what is 2+2?"}]
    params = SamplingParams(max_new_tokens=10, temperature=0.8, seed=7, n=3, logprobs=True)
    with InferenceClient(address) as client:
        remote = client.generate(["hello", chat], params)
    local = Sampler(tiny.model, tiny.tokenizer).generate(["hello", chat], params)
    assert [[c.text for c in g] for g in remote] == [[c.text for c in g] for g in local]
    assert [[list(c.token_ids) for c in g] for g in remote] == [
        [c.token_ids for c in g] for g in local
    ]
    first = remote[0][0]
    assert [t.log_prob for t in first.logprobs] == pytest.approx(local[0][0].token_logprobs)
    assert first.finish_reason in (pb.FINISH_REASON_STOP, pb.FINISH_REASON_LENGTH)


def test_generate_reports_usage_and_thinking(address) -> None:
    request = pb.GenerateRequest(
        prompts=[text_prompt("abc")],
        params=pb.SamplingParams(
            max_new_tokens=4,
            n=2,
            thinking=pb.ThinkingConfig(mode=pb.THINKING_MODE_SOFT, max_tokens=3),
        ),
    )
    response = stub_for(address).Generate(request)
    assert response.model == "tiny-llama"
    assert len(response.completions) == 2
    for c in response.completions:
        assert c.thinking.mode == pb.THINKING_MODE_SOFT
        assert 0 <= c.thinking.steps <= 3
    assert response.usage.prompt_tokens == 3
    assert response.usage.completion_tokens == sum(
        c.thinking.steps + len(c.token_ids) for c in response.completions
    )


def test_stream_deltas_add_up_to_the_completion(address) -> None:
    params = SamplingParams(max_new_tokens=8, seed=3, thinking=ThinkingConfig("hard", max_tokens=4))
    with InferenceClient(address) as client:
        messages = list(client.stream(["stream me"], params))
        unary = client.generate(["stream me"], params)[0][0]
    finals = [m.completion for m in messages if m.HasField("completion")]
    assert len(finals) == 1
    assert "".join(m.text_delta for m in messages) == finals[0].text == unary.text
    assert "".join(m.thinking_delta for m in messages) == finals[0].thinking.text
    assert len(messages) > 2  # streamed, not sent in one piece


def test_json_schema_constrains_the_answer(address) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    params = SamplingParams(
        max_new_tokens=48,
        temperature=0.7,
        seed=1,
        grammar=Grammar("json_schema", json.dumps(schema)),
    )
    with InferenceClient(address) as client:
        completion = client.generate(["json please"], params)[0][0]
    if completion.finish_reason == pb.FINISH_REASON_STOP:
        assert isinstance(json.loads(completion.text)["n"], int)
    else:  # cut by the length limit: still a prefix that the grammar allowed
        assert completion.text.startswith('{"n":')


def test_score_is_the_teacher_forced_log_prob(address, tiny) -> None:
    import torch

    with InferenceClient(address) as client:
        scored = client.score([("score this", " continuation"), ("x", "yz")], temperature=2.0)
    for (prompt, continuation), result in zip(
        [("score this", " continuation"), ("x", "yz")], scored, strict=True
    ):
        prompt_ids = tiny.tokenizer.encode(prompt)
        ids = tiny.tokenizer.encode(continuation, add_special_tokens=False)
        with torch.no_grad():
            logits = tiny.model(torch.tensor([prompt_ids + ids])).logits[0]
        lp = torch.log_softmax(logits[len(prompt_ids) - 1 : -1] / 2.0, dim=-1)
        expected = lp.gather(1, torch.tensor(ids)[:, None])[:, 0].tolist()
        assert [t.token_id for t in result.tokens] == ids
        assert [t.log_prob for t in result.tokens] == pytest.approx(expected, abs=1e-4)
        assert result.total_log_prob == pytest.approx(sum(expected), abs=1e-3)


def test_model_info(address) -> None:
    with InferenceClient(address) as client:
        info = client.model_info()
    assert info.model == "tiny-llama"
    assert info.vocab_size == 262
    assert set(info.thinking_modes) == {
        pb.THINKING_MODE_HARD,
        pb.THINKING_MODE_SOFT,
        pb.THINKING_MODE_FUZZY,
    }
    assert info.has_chat_template
    assert info.device == "cpu"
    assert 0 < info.max_new_tokens_limit < info.context_length


def bad(**params: object) -> pb.GenerateRequest:
    return pb.GenerateRequest(prompts=[text_prompt("hi")], params=pb.SamplingParams(**params))


BAD_REQUESTS = {
    "empty prompt": (pb.GenerateRequest(prompts=[text_prompt("")]), "prompts[0]"),
    "no prompts": (pb.GenerateRequest(), "prompts"),
    "unset prompt": (pb.GenerateRequest(prompts=[pb.Prompt()]), "prompts[0]"),
    "bad chat role": (
        pb.GenerateRequest(
            prompts=[pb.Prompt(chat=pb.Conversation(messages=[pb.ChatMessage(role="x")]))]
        ),
        "role",
    ),
    "max tokens 0": (bad(max_new_tokens=0), "max_new_tokens"),
    "max tokens negative": (bad(max_new_tokens=-3), "max_new_tokens"),
    "max tokens above limit": (bad(max_new_tokens=100_000), "max_new_tokens"),
    "negative temperature": (bad(temperature=-0.5), "temperature"),
    "top_p zero": (bad(top_p=0.0), "top_p"),
    "n zero": (bad(n=0), "n"),
    "n above limit": (bad(n=1000), "n"),
    "prompt longer than context": (
        pb.GenerateRequest(prompts=[text_prompt("x" * 5000)]),
        "context length",
    ),
    "invalid json schema": (
        bad(grammar=pb.Grammar(json_schema="{not json")),
        "grammar",
    ),
    "unknown thinking mode": (
        bad(thinking=pb.ThinkingConfig(mode=7)),  # type: ignore[arg-type]
        "thinking.mode",
    ),
    "negative thinking budget": (
        bad(thinking=pb.ThinkingConfig(mode=pb.THINKING_MODE_SOFT, max_tokens=-1)),
        "thinking.max_tokens",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_invalid_argument_naming_the_field(address, case: str) -> None:
    request, field = BAD_REQUESTS[case]
    stub = stub_for(address)
    for call in (stub.Generate, lambda r: list(stub.GenerateStream(r))):
        with pytest.raises(grpc.RpcError) as error:
            call(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in error.value.details()
    # the server is still fine afterwards
    assert stub.Generate(bad(max_new_tokens=2)).completions


def test_bad_score_requests(address) -> None:
    stub = stub_for(address)
    for request, field in [
        (pb.ScoreRequest(), "items"),
        (pb.ScoreRequest(items=[pb.ScoreItem(prompt=text_prompt("a"))]), "continuation"),
        (
            pb.ScoreRequest(
                items=[pb.ScoreItem(prompt=text_prompt("a"), continuation="b")], temperature=0
            ),
            "temperature",
        ),
    ]:
        with pytest.raises(grpc.RpcError) as error:
            stub.Score(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in error.value.details()


def test_a_token_id_prompt_is_refused_by_the_client(address) -> None:
    # the wire's prompt is a text or chat messages: ids are a ValueError before sending
    with InferenceClient(address) as client:
        with pytest.raises(ValueError, match=r"items must be chat messages, not 1$"):
            client.generate([[1, 2, 3]], GREEDY)
        assert [len(group) for group in client.generate(["hello"], GREEDY)] == [1]  # still works


def test_concurrent_greedy_clients_get_what_sequential_calls_get(start_inference) -> None:
    server = start_inference()
    prompts = [f"request number {i} " + "abc"[: i % 4] for i in range(32)]
    with InferenceClient(f"127.0.0.1:{server.port}") as client:
        sequential = [client.generate([p], GREEDY)[0][0].text for p in prompts]
        barrier = threading.Barrier(32)

        def call(prompt: str) -> str:
            barrier.wait()
            return client.generate([prompt], GREEDY)[0][0].text

        with ThreadPoolExecutor(32) as pool:
            concurrent = list(pool.map(call, prompts))
    assert concurrent == sequential


def test_requests_arriving_during_a_long_one_join_it_and_finish_first(tiny) -> None:
    from reasonloop.rpc.engine import InferenceEngine

    engine = InferenceEngine(tiny)
    long = SamplingParams(max_new_tokens=2000, ignore_eos=True, temperature=0)
    first = engine.submit(["first"], long)
    next(first.events())  # the engine is busy with `first`
    later = [engine.submit([f"later {i}"], GREEDY) for i in range(5)]
    for request in later:
        assert len(request.completions()) == 1
    assert engine.running == 1  # `first` is still decoding: the others did not wait for it
    assert engine.served == 5
    assert len(first.completions()[0].token_ids) == 2000
    engine.close()


def test_full_queue_is_resource_exhausted(tiny) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    # the running request fills the token budget, so the next one waits in line
    limits = EngineLimits(max_queue=1, max_new_tokens=4000, max_batch_tokens=4100)
    engine = InferenceEngine(tiny, limits)
    with serve_inference(engine, ServerOptions(port=0)) as server:
        stub = stub_for(f"127.0.0.1:{server.port}")
        running = stub.GenerateStream(bad(max_new_tokens=4000, ignore_eos=True, temperature=0))
        next(running)  # the engine is busy with it
        queued = stub.Generate.future(bad(max_new_tokens=2))
        deadline = time.monotonic() + 10
        while engine.waiting < 1:  # the queued call has the waiting line's one place
            assert time.monotonic() < deadline, "the request never reached the queue"
            time.sleep(0.01)
        with pytest.raises(grpc.RpcError) as error:
            stub.Generate(bad(max_new_tokens=2))
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "retry" in error.value.details()
        running.cancel()
        assert queued.result(timeout=30).completions


def test_cancel_and_deadline_stop_the_decoding(tiny) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    # 16 rows x 4,002 positions: above the default token budget
    engine = InferenceEngine(tiny, EngineLimits(max_new_tokens=4000, max_batch_tokens=65536))
    server = serve_inference(engine, ServerOptions(port=0))
    stub = stub_for(f"127.0.0.1:{server.port}")
    long = bad(max_new_tokens=4000, ignore_eos=True, temperature=0, n=16)

    full_started = time.monotonic()
    stub.Generate(bad(max_new_tokens=400, ignore_eos=True, temperature=0, n=16))
    tenth_of_full = time.monotonic() - full_started  # 400 of the 4000 tokens

    stream = stub.GenerateStream(long)
    next(stream)
    started = time.monotonic()
    stream.cancel()
    while engine.running:
        time.sleep(0.005)
    assert time.monotonic() - started < tenth_of_full

    with pytest.raises(grpc.RpcError) as error:
        stub.Generate(long, timeout=0.3)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    started = time.monotonic()
    while engine.running:
        time.sleep(0.005)
    assert time.monotonic() - started < tenth_of_full
    assert stub.Generate(bad(max_new_tokens=2)).completions  # still serving
    server.stop(grace_s=0)


def test_health_and_reflection(address) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    channel = grpc.insecure_channel(address)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "reasonloop.v1.InferenceService"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "reasonloop.v1.InferenceService" in services
    assert "grpc.health.v1.Health" in services


def test_one_port_serves_both_services(tiny) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    from reasonloop.benchmarks import arithmetic_benchmark
    from reasonloop.rpc import BenchmarkClient, ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.server import serve

    with serve(
        ServerOptions(port=0), engine=InferenceEngine(tiny), benchmark=arithmetic_benchmark(4)
    ) as server:
        address = f"127.0.0.1:{server.port}"
        services = ProtoReflectionDescriptorDatabase(grpc.insecure_channel(address)).get_services()
        assert {"reasonloop.v1.InferenceService", "reasonloop.v1.BenchmarkService"} <= set(services)
        assert len(BenchmarkClient(address).tasks()) == 4
        assert InferenceClient(address).generate(["x"], GREEDY)[0]


def test_auth_token(start_inference) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    server = start_inference(auth_token="s3cret")
    address = f"127.0.0.1:{server.port}"
    for token in (None, "wrong"):
        with InferenceClient(Connection(address, auth_token=token)) as client:
            for call in (lambda: client.model_info(), lambda: list(client.stream(["a"], GREEDY))):
                with pytest.raises(grpc.RpcError) as error:
                    call()
                assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "Bearer" in error.value.details()
    with InferenceClient(Connection(address, auth_token="s3cret")) as client:
        assert client.model_info().model == "tiny-llama"
        assert list(client.stream(["a"], GREEDY))
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(address))
    assert health.Check(health_pb2.HealthCheckRequest()).status == 1  # probes need no token


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_tls(start_inference, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server = start_inference(tls_cert=cert, tls_key=key)
    with InferenceClient(Connection(f"localhost:{server.port}", tls_root_cert=cert)) as client:
        assert client.model_info().model == "tiny-llama"
    with InferenceClient(f"localhost:{server.port}") as plaintext, pytest.raises(grpc.RpcError):
        plaintext.model_info(timeout_s=2)


def test_graceful_stop_finishes_in_flight_calls_and_refuses_new_ones(start_inference) -> None:
    server = start_inference(EngineLimits(max_new_tokens=4000))
    address = f"127.0.0.1:{server.port}"
    stub = stub_for(address)
    in_flight = stub.GenerateStream(bad(max_new_tokens=600, ignore_eos=True, temperature=0))
    next(in_flight)
    stopper = threading.Thread(target=server.stop, kwargs={"grace_s": 60})
    stopper.start()
    time.sleep(0.2)
    with pytest.raises(grpc.RpcError) as error:
        stub_for(address).Generate(bad(max_new_tokens=2), timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    final = [m.completion for m in in_flight if m.HasField("completion")]
    assert len(final[0].token_ids) == 600
    stopper.join()


@pytest.mark.slow
def test_smollm2_served_over_grpc_answers_like_in_process(smollm2) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference
    from reasonloop.sampling.decoder import Sampler

    chat = [{"role": "user", "content": "What is the capital of France? One word."}]
    params = SamplingParams(max_new_tokens=16, temperature=0)
    engine = InferenceEngine(smollm2)
    with serve_inference(engine, ServerOptions(port=0)) as server:
        client = InferenceClient(f"127.0.0.1:{server.port}")
        remote = client.generate([chat], params)[0][0]
        info = client.model_info()
        client.close()
    local = Sampler(smollm2.model, smollm2.tokenizer).generate([chat], params)[0][0]
    assert remote.text == local.text
    assert "Paris" in remote.text
    assert info.model == "smollm2-135m" and info.vocab_size == 49152
