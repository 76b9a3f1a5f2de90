"""What common OpenAI clients send by default, served for real (issue 19): penalties,
`logit_bias`, top-k log-probs (streamed chunk by chunk), `echo` with prompt log-probs (lm-eval's
log-likelihood request), unknown fields (logged, or refused when strict) and vLLM's extra
endpoints. Driven with the official `openai` client, plain HTTP where it has no method."""

from __future__ import annotations

import http.client
import importlib.util
import json
import logging
import math

import openai
import pytest
import torch

import reasonloop
from reasonloop.limits import MAX_ERROR_CHARS
from reasonloop.rpc import InferenceClient
from reasonloop.rpc.engine import InferenceEngine
from reasonloop.rpc.openai_http import OpenAIServer, start_openai_server
from reasonloop.sampling import SamplingParams
from reasonloop.sampling.decoder import Sampler

CHAT = [{"role": "user", "content": "Say something."}]


def call(
    server: OpenAIServer, method: str, path: str, body: object = None, token: str | None = None
) -> tuple[int, object]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        data = None if body is None else json.dumps(body).encode()
        connection.request(method, path, data, headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def greedy_ids(engine: InferenceEngine, prompt: str, **fields: object) -> list[int]:
    params = SamplingParams(max_new_tokens=12, temperature=0, ignore_eos=True, **fields)
    return engine.submit([prompt], params).completions()[0].token_ids


# ---- fields clients send by default -------------------------------------------------------


def test_default_fields_are_accepted_and_unknown_ones_logged(
    client: openai.OpenAI, engine: InferenceEngine, caplog: pytest.LogCaptureFixture
) -> None:
    expected = engine.submit([CHAT], SamplingParams(max_new_tokens=8, temperature=0)).completions()[
        0
    ]
    with caplog.at_level(logging.WARNING, logger="reasonloop.rpc.openai_http"):
        response = client.chat.completions.create(
            model=engine.name,
            messages=CHAT,
            max_tokens=8,
            temperature=0,
            frequency_penalty=0,
            presence_penalty=0,
            logit_bias={},
            extra_body={
                "chat_template_kwargs": {"enable_thinking": False},
                "reasoning_effort": "low",
                "repetition_penalty": 1.0,
                "made_up_field": 1,
            },
        )
    assert response.choices[0].message.content == expected.text
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "made_up_field" in logged and "chat_template_kwargs" in logged
    assert "reasoning_effort" in logged and "repetition_penalty" not in logged


def test_a_strict_server_refuses_unknown_fields_naming_them(engine: InferenceEngine) -> None:
    with start_openai_server(engine, port=0, strict=True) as strict:
        client = openai.OpenAI(base_url=strict.url, api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError, match="reasoning_effort") as error:
            client.chat.completions.create(
                model=engine.name, messages=CHAT, extra_body={"reasoning_effort": "low"}
            )
        assert error.value.body["param"] == "reasoning_effort"
        messages = [{"role": "user", "content": "hi", "odd": 1}]
        with pytest.raises(openai.BadRequestError, match=r"messages\[0\]\.odd"):
            client.chat.completions.create(model=engine.name, messages=messages)
        huge = {"model": engine.name, "prompt": "hi", **{f"k{i}" * 10_000: 1 for i in range(50)}}
        status, body = call(strict, "POST", "/v1/completions", huge)
        assert status == 400
        assert len(body["error"]["message"]) <= MAX_ERROR_CHARS
        assert len(body["error"]["param"]) <= 40
        # what it implements is not "unknown"
        response = client.completions.create(
            model=engine.name, prompt="hi", max_tokens=2, frequency_penalty=0.5, logprobs=2
        )
        assert len(response.choices[0].logprobs.tokens) == 2


# ---- vLLM's extra endpoints ---------------------------------------------------------------


def test_health_version_tokenize_detokenize(server: OpenAIServer, engine: InferenceEngine) -> None:
    tokenizer = engine.loaded.tokenizer
    assert call(server, "GET", "/health") == (200, None)
    assert call(server, "GET", "/version") == (200, {"version": reasonloop.__version__})

    status, body = call(server, "POST", "/tokenize", {"model": engine.name, "prompt": "Hi there"})
    assert status == 200
    assert body["tokens"] == tokenizer.encode("Hi there")
    assert body["count"] == len(body["tokens"])
    assert body["max_model_len"] == engine.sampler.context_length
    plain = {"prompt": "Hi there", "add_special_tokens": False}
    assert call(server, "POST", "/tokenize", plain)[1]["tokens"] == tokenizer.encode(
        "Hi there", add_special_tokens=False
    )
    status, body = call(server, "POST", "/tokenize", {"messages": CHAT})
    assert status == 200 and body["tokens"] == engine.sampler.encode(CHAT)

    ids = tokenizer.encode("Hi there", add_special_tokens=False)
    assert call(server, "POST", "/detokenize", {"tokens": ids}) == (200, {"prompt": "Hi there"})


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/tokenize", {"prompt": "x" * 3_000_000}, 400, "prompt"),
        ("/tokenize", {"prompt": "x", "messages": CHAT}, 400, None),
        ("/tokenize", {}, 400, None),
        ("/tokenize", {"model": "other", "prompt": "x"}, 404, "model"),
        ("/detokenize", {"tokens": [5, 10**12]}, 400, "tokens"),
        ("/detokenize", {"tokens": [-1]}, 400, "tokens"),
        ("/detokenize", {"tokens": [5] * 100_000}, 400, "tokens"),
        ("/detokenize", {"tokens": "abc"}, 400, "tokens"),
    ],
)
def test_tokenize_and_detokenize_refuse_bad_input(
    server: OpenAIServer, path: str, body: dict, status: int, param: str | None
) -> None:
    got, answer = call(server, "POST", path, body)
    assert (got, answer["error"]["param"]) == (status, param)


def test_probes_need_no_token_but_tokenize_does(engine: InferenceEngine) -> None:
    with start_openai_server(engine, port=0, auth_token="s3cret") as guarded:
        assert call(guarded, "GET", "/health")[0] == 200
        assert call(guarded, "GET", "/version")[0] == 200
        assert call(guarded, "POST", "/tokenize", {"prompt": "x"})[0] == 401
        assert call(guarded, "POST", "/tokenize", {"prompt": "x"}, token="s3cret")[0] == 200


# ---- top-k log-probs ----------------------------------------------------------------------


def test_completions_return_the_top_k_alternatives(
    client: openai.OpenAI, engine: InferenceEngine
) -> None:
    response = client.completions.create(
        model=engine.name, prompt="Hello there", max_tokens=6, temperature=0, logprobs=3
    )
    expected = engine.submit(
        ["Hello there"], SamplingParams(max_new_tokens=6, temperature=0, logprobs=True)
    ).completions()[0]
    logprobs = response.choices[0].logprobs
    assert logprobs.token_logprobs == pytest.approx(expected.token_logprobs, abs=1e-5)
    model = engine.loaded.model
    ids = torch.tensor([expected.prompt_ids + expected.token_ids])
    with torch.inference_mode():
        all_lp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
    start = len(expected.prompt_ids) - 1
    decode = engine.loaded.tokenizer.decode
    for i, (token, top) in enumerate(zip(logprobs.tokens, logprobs.top_logprobs, strict=True)):
        assert max(top.values()) == logprobs.token_logprobs[i] == top[token]  # greedy
        best = all_lp[start + i].topk(3)
        pairs = reversed(list(zip(best.indices.tolist(), best.values.tolist(), strict=True)))
        expected_top = {decode([t]): lp for t, lp in pairs}  # a shared text: the likelier one
        assert top.keys() == expected_top.keys()
        assert list(top.values()) == pytest.approx(list(expected_top.values()), abs=1e-4)
    assert logprobs.text_offset == [sum(map(len, logprobs.tokens[:i])) for i in range(6)]


def test_streamed_logprobs_come_chunk_by_chunk(
    client: openai.OpenAI, engine: InferenceEngine
) -> None:
    fields = {"model": engine.name, "max_tokens": 10, "temperature": 0, "logprobs": 2}
    whole = client.completions.create(prompt="Hello there", **fields).choices[0].logprobs
    chunks = list(client.completions.create(prompt="Hello there", stream=True, **fields))
    carrying = [c.choices[0].logprobs for c in chunks if c.choices[0].logprobs.tokens]
    assert len(carrying) > 1  # not only the last chunk
    assert [t for lp in carrying for t in lp.tokens] == whole.tokens
    assert [v for lp in carrying for v in lp.token_logprobs] == whole.token_logprobs
    assert [v for lp in carrying for v in lp.top_logprobs] == whole.top_logprobs
    assert [v for lp in carrying for v in lp.text_offset] == whole.text_offset

    chat = {"model": engine.name, "messages": CHAT, "max_tokens": 10, "temperature": 0}
    full = client.chat.completions.create(logprobs=True, top_logprobs=4, **chat)
    content = full.choices[0].logprobs.content
    assert len(content) == 10 and all(len(c.top_logprobs) == 4 for c in content)
    assert all(c.top_logprobs[0].logprob == c.logprob for c in content)  # greedy
    stream = client.chat.completions.create(logprobs=True, top_logprobs=4, stream=True, **chat)
    parts = [c.choices[0].logprobs.content for c in stream if c.choices and c.choices[0].logprobs]
    assert len(parts) > 1
    assert [e for part in parts for e in part] == content


@pytest.mark.parametrize(
    ("endpoint", "fields", "param"),
    [
        ("chat", {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ("chat", {"top_logprobs": 3}, None),
        ("completions", {"logprobs": 21}, "logprobs"),
        ("completions", {"logit_bias": {"abc": 1}}, "logit_bias"),
        ("completions", {"logit_bias": {"5": 101}}, "logit_bias"),
        ("completions", {"logit_bias": {"5": math.nan}}, "logit_bias"),
        ("completions", {"logit_bias": {"262": 1}}, "logit_bias"),
        ("completions", {"logit_bias": {str(i): 1 for i in range(301)}}, "logit_bias"),
        ("completions", {"frequency_penalty": -2.5}, "frequency_penalty"),
        ("completions", {"presence_penalty": math.inf}, "presence_penalty"),
        ("completions", {"repetition_penalty": 0}, "repetition_penalty"),
        ("completions", {"max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_new_fields_are_400_naming_them(
    server: OpenAIServer, endpoint: str, fields: dict, param: str | None
) -> None:
    if endpoint == "chat":
        path, body = "/v1/chat/completions", {"messages": CHAT, **fields}
    else:
        path, body = "/v1/completions", {"prompt": "hi", **fields}
    status, answer = call(server, "POST", path, {"model": "tiny-llama", **body})
    assert status == 400
    assert answer["error"]["param"] == param
    assert (param or "top_logprobs") in answer["error"]["message"]


# ---- penalties and logit_bias -------------------------------------------------------------


def test_logit_bias_forces_and_bans_tokens(client: openai.OpenAI, engine: InferenceEngine) -> None:
    first = greedy_ids(engine, "Hello there")[0]
    fields = {"model": engine.name, "prompt": "Hello there", "max_tokens": 6, "temperature": 0}
    forced = client.completions.create(logit_bias={"42": 100}, **fields).choices[0].text
    assert forced == engine.loaded.tokenizer.decode([42] * 6)
    banned = greedy_ids(engine, "Hello there", logit_bias=((first, -100.0),))
    assert banned[0] != first
    text = client.completions.create(logit_bias={str(first): -100}, **fields).choices[0].text
    assert text == engine.loaded.tokenizer.decode(banned[:6])


def reference_greedy(sampler: Sampler, prompt: list[int], steps: int, params) -> list[int]:
    """Greedy decoding with the penalties written out from vLLM's definitions, one full
    forward pass per step (no cache, no batching)."""
    ids = list(prompt)
    out: list[int] = []
    for _ in range(steps):
        with torch.inference_mode():
            z = sampler.model(torch.tensor([ids])).logits[0, -1].float()
        seen = torch.zeros_like(z, dtype=torch.bool)
        seen[ids] = True
        rp = params.repetition_penalty
        z = torch.where(seen, torch.where(z > 0, z / rp, z * rp), z)
        counts = torch.bincount(torch.tensor(out, dtype=torch.long), minlength=len(z)).float()
        z = z - params.frequency_penalty * counts - params.presence_penalty * (counts > 0).float()
        token = int(z.argmax())
        out.append(token)
        ids.append(token)
    return out


@pytest.mark.parametrize(
    "fields",
    [
        {"frequency_penalty": 1.5},
        {"presence_penalty": 2.0},
        {"repetition_penalty": 1.8},
        {"frequency_penalty": -1.0, "presence_penalty": 0.5},
    ],
)
def test_penalties_follow_vllms_definitions(
    fields: dict, client: openai.OpenAI, engine: InferenceEngine
) -> None:
    params = SamplingParams(max_new_tokens=24, temperature=0, ignore_eos=True, **fields)
    sampler = engine.sampler
    prompt = sampler.encode("Hello there, hello")
    expected = reference_greedy(sampler, prompt, 24, params)
    plain = greedy_ids(engine, "Hello there, hello")
    assert expected[:12] != plain  # the penalty changes what greedy decoding picks
    response = client.completions.create(
        model=engine.name,
        prompt=prompt,
        max_tokens=24,
        temperature=0,
        extra_body={"ignore_eos": True, **fields},
    )
    text = engine.loaded.tokenizer.decode(expected, skip_special_tokens=True)
    assert response.choices[0].text == text


# ---- echo: lm-eval's log-likelihood request -------------------------------------------------


def test_loglikelihood_request_matches_grpc_score(
    client: openai.OpenAI, engine: InferenceEngine, start_inference
) -> None:
    tokenizer = engine.loaded.tokenizer
    context, continuation = "The capital of France is", " Paris, of course."
    context_ids = tokenizer.encode(context)
    continuation_ids = tokenizer.encode(continuation, add_special_tokens=False)
    assert tokenizer.encode(context + continuation) == context_ids + continuation_ids
    response = client.completions.create(  # exactly lm-eval's fields
        model=engine.name,
        prompt=context_ids + continuation_ids,
        max_tokens=0,
        echo=True,
        logprobs=1,
        temperature=0,
    )
    logprobs = response.choices[0].logprobs
    assert logprobs.token_logprobs[0] is None
    assert len(logprobs.token_logprobs) == len(context_ids) + len(continuation_ids)
    summed = sum(logprobs.token_logprobs[len(context_ids) :])
    grpc = start_inference()
    score = InferenceClient(f"127.0.0.1:{grpc.port}").score([(context, continuation)])[0]
    assert summed == pytest.approx(score.total_log_prob, abs=1e-4)
    assert response.choices[0].text == tokenizer.decode(context_ids + continuation_ids)
    assert response.usage.completion_tokens == 0
    # lm-eval's is_greedy: each continuation token's log-prob is the best of its top_logprobs
    ids = context_ids + continuation_ids
    with torch.inference_mode():
        all_lp = torch.log_softmax(engine.loaded.model(torch.tensor([ids])).logits[0], dim=-1)
    greedy = []
    for i in range(len(context_ids), len(ids)):
        top = logprobs.top_logprobs[i]
        assert max(top.values()) == pytest.approx(float(all_lp[i - 1].max()), abs=1e-4)
        assert (logprobs.token_logprobs[i] == max(top.values())) == (
            ids[i] == int(all_lp[i - 1].argmax())
        )
        greedy.append(ids[i] == int(all_lp[i - 1].argmax()))
    assert not all(greedy)  # the random model does not predict this text: the check can fail


def test_echo_with_generation_puts_the_prompt_first(
    client: openai.OpenAI, engine: InferenceEngine
) -> None:
    fields = {"model": engine.name, "prompt": "Hello there", "max_tokens": 5, "temperature": 0}
    plain = client.completions.create(logprobs=1, **fields).choices[0]
    echoed = client.completions.create(echo=True, logprobs=1, **fields).choices[0]
    prompt_ids = engine.loaded.tokenizer.encode("Hello there")
    assert echoed.text == "Hello there" + plain.text
    assert echoed.logprobs.token_logprobs[len(prompt_ids) :] == plain.logprobs.token_logprobs
    assert echoed.logprobs.token_logprobs[0] is None
    assert all(lp <= 0 for lp in echoed.logprobs.token_logprobs[1:])
    streamed = client.completions.create(echo=True, stream=True, **fields)
    assert "".join(c.choices[0].text for c in streamed) == echoed.text


@pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None,
    reason="lm-evaluation-harness is not installed (heavy; not a dependency of this project)",
)
def test_lm_eval_local_completions_loglikelihood(server: OpenAIServer, engine) -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    lm = LocalCompletionsAPI(
        base_url=f"{server.url}/completions", model=engine.name, tokenizer_backend=None
    )
    request = Instance("loglikelihood", {}, ("The capital of France is", " Paris"), 0)
    ((logprob, _),) = lm.loglikelihood([request])
    assert logprob < 0
