"""The OpenAI port names the field at fault (`param`) from the core's `FieldError`, never from
its message's text: each field the core checks, sent bad to a real server on the tiny model,
comes back as OpenAI's name for it with the core's message; and a FieldError's `field`, not
what its message starts with, decides `param` (a plain ValueError names none)."""

from __future__ import annotations

import http.client
import json
import pickle

import pytest

from reasonloop.field_error import FieldError
from reasonloop.limits import MAX_GRAMMAR_CHARS
from reasonloop.rpc.openai_errors import bad_request
from reasonloop.rpc.openai_http import OpenAIServer

CHAT = [{"role": "user", "content": "hi"}]
SOFT = {"mode": "soft"}
LONG = "x" * 1_100_000  # more characters than fit the context: refused before tokenizing


def schema(value: object) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "a", "schema": value}}


def post(server: OpenAIServer, endpoint: str, fields: dict) -> tuple[int, dict]:
    if endpoint == "chat":
        path, body = "/v1/chat/completions", {"messages": CHAT, **fields}
    else:
        path, body = "/v1/completions", {"prompt": "hi", **fields}
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        data = json.dumps({"model": "tiny-llama", "max_tokens": 4, **body}).encode()
        connection.request("POST", path, data, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("endpoint", "fields", "param", "head"),
    [
        ("completions", {"temperature": -1}, "temperature", "temperature must be in [0, inf]"),
        ("completions", {"top_p": 0}, "top_p", "top_p must be in (0, 1], got 0"),
        ("completions", {"top_k": -1}, "top_k", "top_k must be in [0, "),
        ("completions", {"min_p": 2}, "min_p", "min_p must be in [0, 1], got 2"),
        ("completions", {"n": 0}, "n", "n must be in [1, "),
        ("completions", {"n": 10**6}, "n", "n: 1000000 is above the limit of "),
        ("completions", {"stop": ["x", ""]}, "stop", "stop[1] is empty"),
        ("completions", {"seed": -1}, "seed", "seed must be in [0, "),
        ("completions", {"frequency_penalty": 3}, "frequency_penalty", "frequency_penalty must"),
        ("completions", {"presence_penalty": -3}, "presence_penalty", "presence_penalty must"),
        ("completions", {"repetition_penalty": 0}, "repetition_penalty", "repetition_penalty"),
        ("completions", {"logit_bias": {"x": 1}}, "logit_bias", "logit_bias: the key 'x' is"),
        ("completions", {"logit_bias": {"5": 101}}, "logit_bias", "logit_bias[0] bias must be"),
        ("completions", {"logit_bias": {"999999": 1}}, "logit_bias", "logit_bias[0]: token id"),
        ("completions", {"prompt": [5, 999999]}, "prompt", "prompt 0: token id 999999"),
        ("completions", {"prompt": [[5], []]}, "prompt", "prompt 1 is empty"),
        ("completions", {"prompt": []}, "prompt", "prompts: at least one prompt is required"),
        ("completions", {"max_tokens": 0}, "max_tokens", "max_tokens must be in [1, "),
        ("completions", {"max_tokens": 10**9}, "max_tokens", "max_tokens: 1000000000 is above"),
        ("chat", {"thinking": {**SOFT, "temperature": 0}}, "thinking.temperature", "thinking."),
        ("chat", {"thinking": {**SOFT, "end_marker": ""}}, "thinking.end_marker", "thinking."),
        ("chat", {"thinking": {**SOFT, "max_tokens": 10**9}}, "thinking.max_tokens", "thinking."),
        ("chat", {"temperature": 1e-30}, "temperature", "temperature must be 0 (greedy) or"),
        ("chat", {"n": 0}, "n", "n must be in [1, "),
        ("chat", {"messages": [{"role": "user", "content": LONG}]}, "messages", "prompt 0 has "),
        (
            "chat",
            {"response_format": schema({"description": "x" * MAX_GRAMMAR_CHARS})},
            "response_format",
            "grammar.json_schema has ",
        ),
        (
            "chat",
            {"response_format": schema({"type": 5})},
            "response_format",
            "invalid json_schema",
        ),
    ],
)
def test_each_checked_field_is_named_as_openai_names_it(
    server: OpenAIServer, endpoint: str, fields: dict, param: str, head: str
) -> None:
    status, answer = post(server, endpoint, fields)
    assert status == 400, answer
    assert (answer["error"]["param"], answer["error"]["type"]) == (param, "invalid_request_error")
    assert answer["error"]["message"].startswith(head), answer["error"]["message"]


@pytest.mark.parametrize(
    ("error", "prompt_param", "param", "message"),
    [
        (FieldError("top_p", "temperature is what it starts with"), "prompt", "top_p", None),
        (ValueError("top_p must be in (0, 1], got 0"), "prompt", None, None),
        (FieldError("thinking.mode", "unknown mode 7"), "messages", "thinking.mode", None),
        (FieldError("stop", "an empty stop string"), "prompt", "stop", None),
        (FieldError("prompt", "prompt 3 is empty"), "messages", "messages", None),
        (FieldError("prompts", "no prompts at all"), "prompt", "prompt", None),
        (FieldError("top_logprobs", "top_logprobs: 21"), "prompt", "logprobs", None),
        (FieldError("top_logprobs", "top_logprobs: 21"), "messages", "top_logprobs", None),
        (
            FieldError("max_new_tokens", "max_new_tokens: 9"),
            "prompt",
            "max_tokens",
            "max_tokens: 9",
        ),
        (FieldError("max_new_tokens", "too long an answer"), "prompt", "max_tokens", None),
        (
            FieldError("grammar.regex", "invalid regex grammar: ("),
            "messages",
            "response_format",
            None,
        ),
        (FieldError("items", "items: at least one item is required"), "prompt", None, None),
        (FieldError("model_path", "temperature must be > 0"), "prompt", None, None),
    ],
)
def test_the_field_not_the_message_decides_param(
    error: ValueError, prompt_param: str, param: str | None, message: str | None
) -> None:
    answer = bad_request(error, prompt_param)
    assert (answer.status, answer.param) == (400, param)
    assert answer.message == (message or str(error))


def test_a_field_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(FieldError("stop", "stop[2] is empty")))
    assert isinstance(error, FieldError)
    assert (error.field, str(error)) == ("stop", "stop[2] is empty")
