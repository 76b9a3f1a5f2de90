"""The three LLM backends against real models and real servers, and structured output retries."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, field_validator

from benchagents.llm import (
    BackendError,
    Endpoints,
    GenerationOptions,
    StructuredOutputError,
    make_backend,
)
from benchagents.llm.local import LocalBackend
from benchagents.llm.openai_api import OpenAIBackend
from benchagents.llm.served import GrpcBackend

CHAT = [{"role": "user", "content": "Is the sky blue?"}]


class Answer(BaseModel):
    clear: bool
    grade: Literal[1, 2, 3]


class Rejected(BaseModel):
    clear: bool

    @field_validator("clear")
    @classmethod
    def _never(cls, value: bool) -> bool:
        raise ValueError("rejected on purpose")


class Sentence(BaseModel):
    text: str


@pytest.fixture(scope="module")
def local() -> LocalBackend:
    return LocalBackend("tiny-llama", device="cpu")


def greedy_text(tiny, messages, max_tokens: int) -> str:
    from reasonloop.sampling import SamplingParams
    from reasonloop.sampling.decoder import Sampler

    sampler = Sampler(tiny.model, tiny.tokenizer)
    params = SamplingParams(max_new_tokens=max_tokens, temperature=0)
    return sampler.generate([messages], params)[0][0].text


def test_local_structured_output_validates_first_time(local: LocalBackend) -> None:
    before = local.stats["retries"]
    answers = local.complete_json_many([CHAT, CHAT + CHAT], Answer, max_tokens=40)
    assert all(isinstance(a, Answer) for a in answers)
    assert local.stats["retries"] == before


def test_local_samples_n_answers_reproducibly(local: LocalBackend) -> None:
    first = local.complete(CHAT, max_tokens=6, temperature=1.0, n=3, seed=7)
    assert len(first) == 3 and len(set(first)) > 1
    assert local.complete(CHAT, max_tokens=6, temperature=1.0, n=3, seed=7) == first
    samples = local.sample_json(CHAT, Answer, 3, max_tokens=40, temperature=1.0, seed=7)
    assert len(samples) == 3 and all(isinstance(s, Answer) for s in samples)


def test_batches_keep_the_order_and_report_progress(local: LocalBackend) -> None:
    conversations = [[{"role": "user", "content": "x" * k}] for k in (30, 5, 60, 1, 12)]
    done: list[int] = []
    local.batch_size = 2
    try:
        batched = local.complete_many(conversations, max_tokens=4, advance=done.append)
    finally:
        local.batch_size = LocalBackend.batch_size
    assert done == [2, 2, 1]
    one_by_one = [local.complete(c, max_tokens=4) for c in conversations]
    assert batched == one_by_one  # greedy: batching by length changes nothing but speed


def test_semantic_rejection_is_retried_with_the_error_fed_back(local: LocalBackend) -> None:
    before = local.stats["retries"]
    with pytest.raises(StructuredOutputError, match="did not fit Rejected after 3") as caught:
        local.complete_json(CHAT, Rejected, max_retries=2, max_tokens=20)
    error = caught.value
    assert error.attempts == 3 and len(error.errors) == 3
    assert "rejected on purpose" in error.errors[0]
    fed_back = [
        m for m in error.messages if m["role"] == "user" and "rejected on purpose" in m["content"]
    ]
    assert len(fed_back) == 3  # one after every attempt
    assert local.stats["retries"] == before + 2


def test_a_retry_can_recover() -> None:
    seen: list[bool] = []

    class SecondTime(BaseModel):
        clear: bool

        @field_validator("clear")
        @classmethod
        def _first_fails(cls, value: bool) -> bool:
            seen.append(value)
            if len(seen) == 1:
                raise ValueError("not yet")
            return value

    backend = LocalBackend("tiny-llama", device="cpu")
    assert isinstance(backend.complete_json(CHAT, SecondTime, max_tokens=20), SecondTime)
    assert len(seen) == 2 and backend.stats["retries"] == 1


def test_truncated_json_ends_in_a_clear_error(local: LocalBackend) -> None:
    with pytest.raises(StructuredOutputError, match="Sentence") as caught:
        local.complete_json(CHAT, Sentence, max_retries=1, max_tokens=3)
    assert "json" in caught.value.errors[0].lower()


def test_openai_backend_against_a_real_server(tiny, engine) -> None:
    from reasonloop.rpc.openai_http import start_openai_server

    with start_openai_server(engine, port=0) as server:
        backend = OpenAIBackend(server.url, "unused", engine.name)
        (text,) = backend.complete(CHAT, max_tokens=8, temperature=0)
        assert text == greedy_text(tiny, CHAT, 8)
        assert len(backend.complete(CHAT, max_tokens=4, temperature=1.0, n=2, seed=1)) == 2
        answers = backend.complete_json_many([CHAT, CHAT], Answer, max_tokens=40)
        assert all(isinstance(a, Answer) for a in answers)
        wrong = OpenAIBackend(server.url, "unused", "no-such-model")
        with pytest.raises(BackendError, match="no-such-model"):
            wrong.complete(CHAT, max_tokens=4)


def test_grpc_backend_against_a_real_server(tiny, engine) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.inference_server import serve_inference

    server = serve_inference(engine, ServerOptions(port=0, auth_token="secret"))
    try:
        address = f"127.0.0.1:{server.port}"
        backend = GrpcBackend(address, auth_token="secret")
        (text,) = backend.complete(CHAT, max_tokens=8, temperature=0)
        assert text == greedy_text(tiny, CHAT, 8)
        assert isinstance(backend.complete_json(CHAT, Answer, max_tokens=40), Answer)
        with pytest.raises(BackendError, match="UNAUTHENTICATED"):
            GrpcBackend(address).complete(CHAT, max_tokens=4)
    finally:
        server.stop(grace_s=0)


def test_backend_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert make_backend("tiny-llama").name == "local:tiny-llama"
    assert make_backend("local:tiny-llama").name == "local:tiny-llama"  # the alias
    assert make_backend("grpc://localhost:50051").name == "grpc://localhost:50051"
    assert make_backend("grpc:localhost:50051").name == "grpc://localhost:50051"  # old runs'
    replicas = "grpc://127.0.0.1:1,127.0.0.1:2"
    assert make_backend(replicas).name == replicas
    remote = make_backend("openai", Endpoints(base_url="http://127.0.0.1:1/v1", model="m"))
    assert remote.name == "openai:m"
    for bad, message in [
        ("nonsense", "unknown model 'nonsense'"),
        ("local:", "names no model"),
        ("grpc:nohost", "'nohost' is not HOST:PORT"),
        ("grpc://h:0", "not in 1..65535"),
        ("openai:gpt", "API key"),
    ]:
        with pytest.raises(ValueError, match=message):
            make_backend(bad)
    with pytest.raises(BackendError, match="unknown model"):
        LocalBackend("no-such-model").complete(CHAT, max_tokens=2)
    with pytest.raises(ValueError, match="max_tokens"):
        GenerationOptions(max_tokens=0)
