"""Hostile requests against a real Inference server and its OpenAI HTTP port (one engine, the
tiny model): every bad field is refused before it reaches a batch, with INVALID_ARGUMENT / 400
naming the field and quoting the value only in part; oversized input is refused before it is
tokenized or parsed; a request that fails inside a batch fails alone; HTTPS with the gRPC pair.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from reasonloop.limits import MAX_ERROR_CHARS, MAX_REQUEST_BYTES
from reasonloop.rpc import RunningServer, ServerOptions
from reasonloop.rpc.engine import InferenceEngine
from reasonloop.rpc.inference_server import serve_inference
from reasonloop.rpc.openai_http import OpenAIServer, start_openai_server
from reasonloop.sampling import SamplingParams
from reasonloop.v1 import inference_pb2 as pb
from reasonloop.v1 import inference_pb2_grpc

GREEDY = SamplingParams(max_new_tokens=24, temperature=0, ignore_eos=True)


@pytest.fixture(scope="module")
def grpc_server(engine: InferenceEngine) -> Iterator[RunningServer]:
    server = serve_inference(engine, ServerOptions(port=0))
    yield server
    server.stop(grace_s=0)


@pytest.fixture(scope="module")
def http_server(engine: InferenceEngine) -> Iterator[OpenAIServer]:
    with start_openai_server(engine, port=0) as server:
        yield server


@pytest.fixture(scope="module")
def stub(grpc_server: RunningServer) -> inference_pb2_grpc.InferenceServiceStub:
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}")
    return inference_pb2_grpc.InferenceServiceStub(channel)


def post(server: OpenAIServer, body: bytes, path: str = "/v1/completions") -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def completion(**fields: object) -> bytes:
    return json.dumps({"model": "tiny-llama", "max_tokens": 4, **fields}).encode()


def generate(text: str = "hi", **params: object) -> pb.GenerateRequest:
    return pb.GenerateRequest(prompts=[pb.Prompt(text=text)], params=pb.SamplingParams(**params))


def invalid_argument(stub: inference_pb2_grpc.InferenceServiceStub, request) -> str:
    """The details of the INVALID_ARGUMENT both Generate and GenerateStream answer."""
    details = []
    for call in (stub.Generate, lambda r: list(stub.GenerateStream(r))):
        with pytest.raises(grpc.RpcError) as error:
            call(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
        details.append(error.value.details())
    assert details[0] == details[1]
    return details[0]


# ---- token ids ------------------------------------------------------------------------------

OUT_OF_VOCABULARY = {"huge": [999999], "negative": [-1], "vocab size": [262], "2**70": [2**70]}


@pytest.mark.parametrize("case", list(OUT_OF_VOCABULARY))
def test_out_of_vocabulary_token_ids_are_400_and_the_neighbour_finishes(
    case: str, engine: InferenceEngine, http_server: OpenAIServer, stub
) -> None:
    expected = engine.submit(["neighbour"], GREEDY).completions()[0].text
    request = generate("neighbour", max_new_tokens=24, temperature=0, ignore_eos=True)
    neighbour = stub.Generate.future(request)
    status, body = post(http_server, completion(prompt=[5, *OUT_OF_VOCABULARY[case]]))
    assert status == 400
    assert body["error"]["param"] == "prompt"
    assert "vocabulary" in body["error"]["message"]
    assert "position 1" in body["error"]["message"]
    assert neighbour.result(timeout=60).completions[0].text == expected
    status, body = post(http_server, completion(prompt=[[5, 6], [7, 262]]))  # the second prompt
    assert status == 400 and "prompt 1" in body["error"]["message"]


# ---- floats ---------------------------------------------------------------------------------

NAN, INF = math.nan, math.inf
BAD_FLOATS = {
    "temperature nan": ({"temperature": NAN}, "temperature"),
    "temperature inf": ({"temperature": INF}, "temperature"),
    "temperature -inf": ({"temperature": -INF}, "temperature"),
    "temperature underflows": ({"temperature": 1e-30}, "temperature"),
    "top_p nan": ({"top_p": NAN}, "top_p"),
    "min_p nan": ({"min_p": NAN}, "min_p"),
    "thinking temperature nan": ({"thinking": {"temperature": NAN}}, "thinking.temperature"),
    "thinking temperature inf": ({"thinking": {"temperature": INF}}, "thinking.temperature"),
    "noise scale nan": ({"thinking": {"noise_scale": NAN}}, "thinking.noise_scale"),
    "noise scale inf": ({"thinking": {"noise_scale": INF}}, "thinking.noise_scale"),
    "noise scale huge": ({"thinking": {"noise_scale": 1e30}}, "thinking.noise_scale"),
}


@pytest.mark.parametrize("case", list(BAD_FLOATS))
def test_non_finite_floats_are_refused_naming_the_field(
    case: str, stub, http_server: OpenAIServer
) -> None:
    fields, name = BAD_FLOATS[case]
    grpc_fields = dict(fields)
    if "thinking" in fields:
        soft = pb.THINKING_MODE_SOFT
        grpc_fields["thinking"] = pb.ThinkingConfig(mode=soft, **fields["thinking"])
    assert name in invalid_argument(stub, generate(**grpc_fields))

    http_fields = dict(fields)
    if "thinking" in fields:
        http_fields["thinking"] = {"mode": "soft", **fields["thinking"]}
    messages = [{"role": "user", "content": "hi"}]
    # json.dumps writes NaN and Infinity as JavaScript does, which Python's parser accepts
    body = json.dumps({"model": "tiny-llama", "messages": messages, **http_fields}).encode()
    status, answer = post(http_server, body, "/v1/chat/completions")
    assert status == 400
    assert answer["error"]["param"] == name
    assert name in answer["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"top_k": 2**70}, "top_k"),
        ({"seed": 2**70}, "seed"),
        ({"seed": -1}, "seed"),
        ({"max_tokens": 2**70}, "max_tokens"),
        ({"n": 2**70}, "n"),
        ({"stop": ["x"] * 17}, "stop"),
        ({"stop": ["x" * 257]}, "stop"),
        ({"stop": [""]}, "stop"),
    ],
)
def test_out_of_range_integers_and_stop_strings_are_400(
    fields: dict, name: str, http_server: OpenAIServer, stub
) -> None:
    status, body = post(http_server, completion(prompt="hi", **fields))
    assert status == 400
    assert body["error"]["param"] == name
    if name == "stop":
        assert name in invalid_argument(stub, generate(stop=fields["stop"]))


# ---- sizes ----------------------------------------------------------------------------------


def test_oversized_prompts_are_refused_before_tokenizing(stub, engine: InferenceEngine) -> None:
    limit = engine.sampler.max_prompt_chars
    # characters, not tokens: the refusal comes before the text is tokenized
    details = invalid_argument(stub, generate("x" * 3_900_000))
    assert "3900000 characters" in details and "tokens" not in details
    assert f"{limit + 1} characters" in invalid_argument(stub, generate("y" * (limit + 1)))
    chat = pb.Conversation(messages=[pb.ChatMessage(role="user", content="a")] * 1025)
    details = invalid_argument(stub, pb.GenerateRequest(prompts=[pb.Prompt(chat=chat)]))
    assert "1025 messages" in details
    half = pb.ChatMessage(role="user", content="z" * (limit // 2 + 1))
    big = pb.GenerateRequest(prompts=[pb.Prompt(chat=pb.Conversation(messages=[half] * 2))])
    assert "characters" in invalid_argument(stub, big)


def raw_status(port: int, head: bytes, body: bytes = b"") -> int:
    """Send a request's head and `body` (no more), return the status line's code."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head + b"\r\n" + body)
        reply = b""
        while b"\r\n" not in reply:
            reply += sock.recv(4096)
    return int(reply.split()[1])


def test_too_many_prompts_or_items_are_counted_before_conversion(stub) -> None:
    many = pb.GenerateRequest(prompts=[pb.Prompt(text="a")] * 200_000)
    assert "prompts: 200000 prompts, the limit is" in invalid_argument(stub, many)
    items = pb.ScoreRequest(
        items=[pb.ScoreItem(prompt=pb.Prompt(text="a"), continuation="b")] * 50_000
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(items)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "items: 50000 items, the limit is" in error.value.details()


@pytest.mark.parametrize(
    ("item", "temperature", "expected"),
    [
        (("a", "b"), NAN, "temperature"),
        (("a", "b"), INF, "temperature"),
        (("a", "z" * 3_900_000), 1.0, "items[0].continuation has 3900000 characters"),
        (("z" * 3_900_000, "b"), 1.0, "3900000 characters"),
    ],
)
def test_score_refuses_non_finite_temperatures_and_oversized_items(
    item: tuple[str, str], temperature: float, expected: str, stub
) -> None:
    prompt, continuation = item
    request = pb.ScoreRequest(
        items=[pb.ScoreItem(prompt=pb.Prompt(text=prompt), continuation=continuation)],
        temperature=temperature,
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in error.value.details()


def test_oversized_bodies_are_413_before_they_are_read(http_server: OpenAIServer) -> None:
    request = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    # a declared length over the limit is refused before any of the body is sent
    declared = request + b"Content-Length: %d\r\n" % (MAX_REQUEST_BYTES + 1)
    assert raw_status(http_server.port, declared) == 413
    # chunked (no length): refused once the bytes read pass the limit
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    chunks = chunk * (MAX_REQUEST_BYTES // 65536 + 1)
    assert raw_status(http_server.port, request + b"Transfer-Encoding: chunked\r\n", chunks) == 413

    # deep nesting is a parse error, not a crash
    status, body = post(http_server, b"[" * 100_000)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, _ = post(http_server, completion(prompt="still serving"))
    assert status == 200


def test_error_messages_quote_sent_values_in_part(http_server: OpenAIServer, stub) -> None:
    role = pb.ChatMessage(role="r" * 1_000_000, content="hi")
    request = pb.GenerateRequest(prompts=[pb.Prompt(chat=pb.Conversation(messages=[role]))])
    details = invalid_argument(stub, request)
    assert "role" in details and "1000000 characters" in details and len(details) < 200

    for body, status in [
        (json.dumps({"model": "m" * 1_000_000, "prompt": "hi"}).encode(), 404),
        (completion(prompt="hi", logit_bias={"k" * 100_000: 1}), 400),
    ]:
        code, answer = post(http_server, body)
        assert code == status
        assert len(answer["error"]["message"]) <= MAX_ERROR_CHARS
        assert len(answer["error"]["param"] or "") <= 40


# ---- a failure inside a batch ---------------------------------------------------------------


def occupy(engine: InferenceEngine) -> None:
    """Start a long request and return once it is decoding, so the next ones wait together."""
    blocker = engine.submit(
        ["blocker"], SamplingParams(max_new_tokens=400, temperature=0, ignore_eos=True)
    )
    events = blocker.events()
    next(events)
    threading.Thread(target=lambda: list(events), daemon=True).start()


def test_a_request_failing_inside_a_batch_fails_alone(engine: InferenceEngine) -> None:
    """A request whose rows break the decoder (here: its prompt is replaced by an id outside
    the vocabulary after validation, as a validation gap would let through) fails with the
    error; the request joining with it is computed again alone and completes unchanged, and
    the running request is neither stopped nor decoded again."""
    expected = engine.submit(["neighbour"], GREEDY).completions()[0].text
    batches = engine.batches
    occupy(engine)
    neighbour = engine.submit(["neighbour"], GREEDY)
    culprit = engine.submit(["culprit"], GREEDY)
    culprit.prompts[0] = [999999]
    with pytest.raises((ValueError, IndexError)):  # the decoder's own check, or the embedding
        culprit.completions()
    assert neighbour.completions()[0].text == expected
    # the blocker, then the two joining together (retried apart inside that step)
    assert engine.batches - batches == 2


def test_a_stream_rerun_after_its_batch_failed_sends_only_new_text(engine: InferenceEngine) -> None:
    """The batch fails mid-decoding, after the neighbour has streamed part of its answer (the
    culprit's parameters are broken in place, as a decoder bug would be hit mid-way): the
    neighbour's stream, rerun alone, continues where it stopped, with no text repeated."""
    params = SamplingParams(max_new_tokens=60, temperature=0.8, seed=3, ignore_eos=True)
    expected = engine.submit(["neighbour"], params).completions()[0].text
    occupy(engine)
    neighbour = engine.submit(["neighbour"], params)
    culprit = engine.submit(["culprit"], GREEDY)
    events = neighbour.events()
    streamed = next(events).text_delta
    object.__setattr__(culprit.params, "max_new_tokens", "not a number")
    with pytest.raises(TypeError):
        culprit.completions()
    last = None
    for event in events:
        streamed += event.text_delta
        last = event.completion or last
    assert last is not None and last.text == expected
    assert streamed == expected


# ---- HTTPS ----------------------------------------------------------------------------------


def test_openai_port_speaks_https_with_the_grpc_pair(
    engine: InferenceEngine, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = tls_files
    with start_openai_server(engine, port=0, tls_cert=cert, tls_key=key) as server:
        assert server.url.startswith("https://")
        secure = http.client.HTTPSConnection(
            "localhost", server.port, timeout=30, context=ssl.create_default_context(cafile=cert)
        )
        secure.request("GET", "/v1/models")
        assert json.loads(secure.getresponse().read())["data"][0]["id"] == engine.name
        # closed, not left idle: the server's stop waits out its grace period (30 s) for an
        # open keep-alive TLS connection
        secure.close()
        plain = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            plain.request("GET", "/v1/models")
            plain.getresponse().read()
    other_key = tmp_path / "other.pem"
    other_key.write_text(key.read_text().replace("A", "B", 1))
    with pytest.raises(ValueError, match="do not load"):  # a pair that does not load
        start_openai_server(engine, port=0, tls_cert=cert, tls_key=other_key)
    with pytest.raises(ValueError, match="do not load"):  # the gRPC side: the same check
        ServerOptions(port=0, tls_cert=cert, tls_key=other_key)
    with pytest.raises(ValueError, match="both"):
        start_openai_server(engine, port=0, tls_cert=cert)
