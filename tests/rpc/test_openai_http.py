"""The OpenAI-compatible HTTP API, served for real and driven with the official `openai` client."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import openai
import pytest

from reasonloop.rpc.engine import EngineLimits, InferenceEngine
from reasonloop.rpc.openai_http import start_openai_server
from reasonloop.sampling import SamplingParams

# at most three digits: the grammar ends the answer well within the tests' token budgets
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 999}},
    "required": ["a"],
}
CHAT = [{"role": "user", "content": "Say something."}]


def engine_text(engine: InferenceEngine, prompt, params: SamplingParams) -> str:
    return engine.submit([prompt], params).completions()[0].text


def test_models_list(client: openai.OpenAI, engine: InferenceEngine) -> None:
    assert [m.id for m in client.models.list()] == [engine.name]
    assert client.models.retrieve(engine.name).id == engine.name


def test_greedy_completion_matches_the_engine(client: openai.OpenAI, engine) -> None:
    response = client.completions.create(
        model=engine.name, prompt="Hello there", max_tokens=12, temperature=0, logprobs=0
    )
    expected = engine.submit(["Hello there"], SamplingParams(max_new_tokens=12, temperature=0))
    completion = expected.completions()[0]
    (choice,) = response.choices
    assert choice.text == completion.text
    assert choice.finish_reason == completion.finish_reason
    assert response.usage.prompt_tokens == expected.prompt_tokens
    assert response.usage.completion_tokens == len(completion.token_ids)
    logprobs = choice.logprobs.token_logprobs
    assert len(logprobs) == len(completion.token_ids) and all(lp <= 0 for lp in logprobs)


def test_completion_choices_are_ordered_by_prompt_then_sample(client, engine) -> None:
    prompts = ["a", "The quick brown fox"]
    response = client.completions.create(
        model=engine.name, prompt=prompts, n=2, max_tokens=6, temperature=0
    )
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    greedy = SamplingParams(max_new_tokens=6, temperature=0)
    assert response.choices[2].text == engine_text(engine, prompts[1], greedy)

    stream = client.completions.create(
        model=engine.name, prompt=prompts, n=2, max_tokens=6, temperature=0, stream=True
    )
    texts = ["", "", "", ""]
    for chunk in stream:
        for c in chunk.choices:
            texts[c.index] += c.text
    assert texts == [c.text for c in response.choices]


def test_chat_with_n_samples(client: openai.OpenAI, engine) -> None:
    response = client.chat.completions.create(
        model=engine.name, messages=CHAT, n=2, max_tokens=8, temperature=1.0, seed=0
    )
    assert [c.index for c in response.choices] == [0, 1]
    for choice in response.choices:
        assert choice.message.role == "assistant"
        assert isinstance(choice.message.content, str)
        assert choice.finish_reason in ("stop", "length")
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )


def test_streamed_chat_matches_the_whole_answer(client: openai.OpenAI, engine) -> None:
    request = {"model": engine.name, "messages": CHAT, "max_tokens": 16, "temperature": 0}
    whole = client.chat.completions.create(**request)
    expected = engine_text(engine, CHAT, SamplingParams(max_new_tokens=16, temperature=0))
    assert whole.choices[0].message.content == expected

    chunks = list(
        client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == whole.choices[0].finish_reason and not any(finish[:-1])
    assert chunks[-1].usage == whole.usage


def test_json_schema_response_format(client: openai.OpenAI, engine) -> None:
    response = client.chat.completions.create(
        model=engine.name,
        messages=CHAT,
        max_tokens=64,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
    )
    (choice,) = response.choices
    assert choice.finish_reason == "stop"
    answer = json.loads(choice.message.content)
    assert list(answer) == ["a"] and 0 <= answer["a"] <= 999  # the schema's bounds held


def test_thinking_extension_returns_the_reasoning(client: openai.OpenAI, engine) -> None:
    response = client.chat.completions.create(
        model=engine.name,
        messages=CHAT,
        max_tokens=4,
        temperature=0,
        extra_body={"thinking": {"mode": "hard", "max_tokens": 5}},
    )
    message = response.choices[0].message
    assert isinstance(message.model_extra["reasoning_content"], str)
    assert response.usage.completion_tokens > 4  # thinking steps count as decoded tokens


def test_bad_input_is_a_400_naming_the_field(client: openai.OpenAI, engine) -> None:
    with pytest.raises(openai.BadRequestError, match="temperature") as error:
        client.chat.completions.create(model=engine.name, messages=CHAT, temperature=-1)
    assert error.value.body["param"] == "temperature"
    assert error.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="frequency_penalty") as error:
        client.completions.create(model=engine.name, prompt="x", frequency_penalty=2.5)
    assert error.value.body["param"] == "frequency_penalty"
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.completions.create(model=engine.name, prompt="x", max_tokens=10**6)
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model=engine.name, messages=[])


def test_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as error:
        client.completions.create(model="gpt-4o", prompt="x")
    assert error.value.body["code"] == "model_not_found"


@pytest.fixture
def long_engine(tiny) -> InferenceEngine:
    """An engine that accepts long requests and keeps one waiting at most."""
    engine = InferenceEngine(tiny, EngineLimits(max_new_tokens=4000, max_queue=1))
    yield engine
    engine.close()


LONG = SamplingParams(max_new_tokens=4000, ignore_eos=True, temperature=0, n=8)


def test_overload_is_a_429_and_shutdown_a_503(tiny, long_engine: InferenceEngine) -> None:
    busy = long_engine.submit(["busy"], LONG)
    next(busy.events())  # the engine is decoding it
    waiting = long_engine.submit(["waiting"], SamplingParams(max_new_tokens=2))  # fills the line
    with start_openai_server(long_engine, port=0) as server:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.completions.create(model=long_engine.name, prompt="x")
    busy.cancel()
    assert len(waiting.completions()) == 1

    closed = InferenceEngine(tiny)
    closed.close()
    with start_openai_server(closed, port=0) as server:
        gone = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError) as error:
            gone.completions.create(model=closed.name, prompt="x")
    assert error.value.status_code == 503


def test_a_client_that_leaves_cancels_its_request(long_engine: InferenceEngine) -> None:
    started = time.monotonic()
    long_engine.submit(["x"], replace(LONG, max_new_tokens=400)).completions()
    tenth_of_full = time.monotonic() - started  # 400 of the 4000 tokens

    def stops_soon() -> bool:
        left = time.monotonic()
        while long_engine.running and time.monotonic() - left < tenth_of_full:
            time.sleep(0.005)
        return long_engine.running == 0

    long = {
        "model": long_engine.name,
        "prompt": "x",
        "max_tokens": 4000,
        "n": 8,
        "temperature": 0,
        "extra_body": {"ignore_eos": True},
    }
    with start_openai_server(long_engine, port=0) as server:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        stream = client.completions.create(**long, stream=True)
        next(iter(stream))  # decoding has started
        stream.close()
        assert stops_soon()
        with pytest.raises(openai.APITimeoutError):  # not streamed: the client gives up waiting
            client.with_options(timeout=0.5).completions.create(**long)
        assert stops_soon()
    assert long_engine.served == 3


def test_bearer_token_auth(engine: InferenceEngine) -> None:
    with start_openai_server(engine, port=0, auth_token="s3cret") as server:
        wrong = openai.OpenAI(base_url=server.url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        right = openai.OpenAI(base_url=server.url, api_key="s3cret", max_retries=0)
        assert [m.id for m in right.models.list()] == [engine.name]
