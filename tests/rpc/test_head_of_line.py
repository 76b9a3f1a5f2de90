"""No head-of-line blocking on a real Inference server: what a request makes the server prepare
(its end marker, its grammar) is size-limited, and a grammar compiles off the decoding thread,
in a worker killed at the time limit, while small requests go on being served."""

from __future__ import annotations

import json
import re
import time

import grpc
import pytest

from reasonloop.limits import MAX_END_MARKER_TOKENS
from reasonloop.rpc.engine import EngineLimits
from reasonloop.v1 import inference_pb2 as pb
from reasonloop.v1 import inference_pb2_grpc

# 1,000 flat properties: ~12 s to compile for the tiny model's 262-token vocabulary
WIDE_SCHEMA = json.dumps(
    {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(1000)}}
)


def stub_for(address: str) -> inference_pb2_grpc.InferenceServiceStub:
    return inference_pb2_grpc.InferenceServiceStub(grpc.insecure_channel(address))


def generate(**params: object) -> pb.GenerateRequest:
    return pb.GenerateRequest(prompts=[pb.Prompt(text="hi")], params=pb.SamplingParams(**params))


def thinking(end_marker: str, max_tokens: int = 4) -> pb.ThinkingConfig:
    return pb.ThinkingConfig(
        mode=pb.THINKING_MODE_HARD, max_tokens=max_tokens, end_marker=end_marker
    )


def refusal(stub: inference_pb2_grpc.InferenceServiceStub, request: pb.GenerateRequest) -> str:
    with pytest.raises(grpc.RpcError) as error:
        stub.Generate(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return error.value.details()


def test_end_markers_and_thinking_budgets_are_limited(start_inference) -> None:
    server = start_inference(EngineLimits(max_new_tokens=100))
    stub = stub_for(f"127.0.0.1:{server.port}")
    # each marker token is one decoding step of the whole batch: 3,000 characters cost 118 s
    for chars in (3000, 1_000_000):
        assert refusal(stub, generate(max_new_tokens=2, thinking=thinking("x" * chars))) == (
            f"thinking.end_marker has {chars} characters, the limit is 256"
        )
    too_many_tokens = "x" * (MAX_END_MARKER_TOKENS + 1)  # one byte, one token
    assert refusal(stub, generate(max_new_tokens=2, thinking=thinking(too_many_tokens))) == (
        f"thinking.end_marker is {MAX_END_MARKER_TOKENS + 1} tokens, the limit is "
        f"{MAX_END_MARKER_TOKENS}"
    )
    assert refusal(stub, generate(max_new_tokens=2, thinking=thinking("</think>", 101))) == (
        "thinking.max_tokens: 101 is above the limit of 100"
    )
    longest = "x" * MAX_END_MARKER_TOKENS
    request = generate(max_new_tokens=2, temperature=0, thinking=thinking(longest))
    (completion,) = stub.Generate(request).completions
    # 4 steps (the random model does not spell 64 x's), then the marker's 64 tokens
    assert (completion.thinking.steps, completion.thinking.ended_by_marker) == (4, False)


def test_grammar_size_and_depth_are_limited_before_compiling(start_inference) -> None:
    server = start_inference()
    stub = stub_for(f"127.0.0.1:{server.port}")
    deep = '{"a": ' * 1000 + "1" + "}" * 1000  # 1,000 levels: hit the 300 s deadline
    assert refusal(stub, generate(grammar=pb.Grammar(json_schema=deep))) == (
        "grammar.json_schema nests brackets 1000 deep, the limit is 64"
    )
    brackets_in_strings = json.dumps({"enum": ["(" * 100, "[" * 100]})  # not nesting
    within = generate(max_new_tokens=2, grammar=pb.Grammar(json_schema=brackets_in_strings))
    assert len(stub.Generate(within).completions) == 1
    huge = "a" * (64 * 1024 + 1)
    assert refusal(stub, generate(grammar=pb.Grammar(regex=huge))) == (
        f"grammar.regex has {len(huge)} characters, the limit is {64 * 1024}"
    )


def test_a_slow_grammar_is_refused_at_the_time_limit_while_small_requests_go_on(tiny) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    engine = InferenceEngine(tiny, EngineLimits(grammar_compile_s=2.0))
    with serve_inference(engine, ServerOptions(port=0)) as server:
        stub = stub_for(f"127.0.0.1:{server.port}")
        ab = generate(max_new_tokens=8, grammar=pb.Grammar(regex="[ab]{3}"))
        assert re.fullmatch("[ab]{3}", stub.Generate(ab).completions[0].text)  # worker started
        wide = generate(max_new_tokens=2, grammar=pb.Grammar(json_schema=WIDE_SCHEMA))
        started = time.monotonic()
        costly = stub.Generate.future(wide)
        small_done_before = []
        for _ in range(3):
            assert len(stub.Generate(generate(max_new_tokens=4)).completions) == 1
            small_done_before.append(not costly.done())
        # every small request was served while the costly grammar was being compiled
        assert small_done_before == [True, True, True]
        error = costly.exception(timeout=120)
        assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
        first_s = time.monotonic() - started
        assert error.details() == "grammar.json_schema took longer than 2 s to compile; simplify it"
        # the refusal is remembered: the same grammar again does not hold the worker for 2 s
        started = time.monotonic()
        assert refusal(stub, wide) == error.details()
        assert time.monotonic() - started < first_s / 2
        # the killed worker was replaced: grammars compile again
        again = generate(max_new_tokens=8, grammar=pb.Grammar(regex="[ab]{4}"))
        assert re.fullmatch("[ab]{4}", stub.Generate(again).completions[0].text)
