"""Translation between the wire messages (reasonloop.v1) and the core's Python types: every
proto <-> core conversion of both services, for servers and clients alike (so a client never
imports a server module).

Every check that a message can fail raises `ValueError` with the field's name first (quoting
what was sent only in part); the servers turn it into INVALID_ARGUMENT with that message. The
ranges and sizes themselves are checked where the core types are built (`SamplingParams`,
`ThinkingConfig`, the sampler's prompt checks), so every entry point applies the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reasonloop.benchmarks import BenchmarkTask, Check, GradeResult
from reasonloop.limits import MAX_CHAT_MESSAGES, shown
from reasonloop.sampling.params import Grammar, Prompt, SamplingParams, ThinkingConfig
from reasonloop.v1 import benchmark_pb2
from reasonloop.v1 import inference_pb2 as pb

if TYPE_CHECKING:  # the decoder (and torch) stay unimported for clients and benchmark servers
    from reasonloop.sampling.decoder import Completion

INFERENCE_SERVICE = pb.DESCRIPTOR.services_by_name["InferenceService"]
BENCHMARK_SERVICE = benchmark_pb2.DESCRIPTOR.services_by_name["BenchmarkService"]
THINKING_MODE_NAMES = {
    pb.THINKING_MODE_HARD: "hard",
    pb.THINKING_MODE_SOFT: "soft",
    pb.THINKING_MODE_FUZZY: "fuzzy",
}
THINKING_MODE_ENUMS = {name: value for value, name in THINKING_MODE_NAMES.items()}
FINISH_REASONS = {"stop": pb.FINISH_REASON_STOP, "length": pb.FINISH_REASON_LENGTH}
CHAT_ROLES = ("system", "user", "assistant")


def prompt_from_proto(message: pb.Prompt, field: str) -> Prompt:
    kind = message.WhichOneof("kind")
    if kind == "text":
        if not message.text:
            raise ValueError(f"{field}.text is empty")
        return message.text
    if kind == "chat":
        if not message.chat.messages:
            raise ValueError(f"{field}.chat has no messages")
        if len(message.chat.messages) > MAX_CHAT_MESSAGES:
            raise ValueError(
                f"{field}.chat has {len(message.chat.messages)} messages, "
                f"the limit is {MAX_CHAT_MESSAGES}"
            )
        for j, m in enumerate(message.chat.messages):
            if m.role not in CHAT_ROLES:
                raise ValueError(
                    f"{field}.chat.messages[{j}].role must be one of {', '.join(CHAT_ROLES)}, "
                    f"not {shown(m.role)}"
                )
        return [{"role": m.role, "content": m.content} for m in message.chat.messages]
    raise ValueError(f"{field} is empty: set text or chat")


def prompt_to_proto(prompt: Prompt) -> pb.Prompt:
    if isinstance(prompt, str):
        return pb.Prompt(text=prompt)
    messages = []
    for m in prompt:
        if not isinstance(m, dict):  # token ids have no wire form
            raise ValueError(f"a prompt's items must be chat messages, not {shown(m)}")
        messages.append(pb.ChatMessage(role=m["role"], content=m["content"]))
    return pb.Prompt(chat=pb.Conversation(messages=messages))


def prompts_from_proto(messages: Any) -> list[Prompt]:
    return [prompt_from_proto(m, f"prompts[{i}]") for i, m in enumerate(messages)]


def params_from_proto(message: pb.SamplingParams) -> SamplingParams:
    """Unset optional fields take SamplingParams' defaults; the dataclass validates ranges."""
    fields: dict[str, Any] = {}
    for name in ("max_new_tokens", "temperature", "top_p", "top_k", "min_p", "n", "seed"):
        if message.HasField(name):
            fields[name] = getattr(message, name)
    if message.stop:
        fields["stop"] = tuple(message.stop)
    fields["include_stop"] = message.include_stop
    fields["logprobs"] = message.logprobs
    fields["ignore_eos"] = message.ignore_eos
    if message.HasField("grammar"):
        kind = message.grammar.WhichOneof("kind")
        if kind is None:
            raise ValueError("grammar is empty: set json_schema, regex or ebnf")
        fields["grammar"] = Grammar(kind, getattr(message.grammar, kind))
    if message.HasField("thinking"):
        fields["thinking"] = thinking_from_proto(message.thinking)
    return SamplingParams(**fields)


def thinking_from_proto(message: pb.ThinkingConfig) -> ThinkingConfig | None:
    if message.mode == pb.THINKING_MODE_UNSPECIFIED:
        return None
    if message.mode not in THINKING_MODE_NAMES:
        raise ValueError(
            f"thinking.mode {message.mode} is unknown; use HARD ({pb.THINKING_MODE_HARD}), "
            f"SOFT ({pb.THINKING_MODE_SOFT}) or FUZZY ({pb.THINKING_MODE_FUZZY})"
        )
    fields: dict[str, Any] = {"mode": THINKING_MODE_NAMES[message.mode]}
    for name in ("temperature", "noise_scale", "max_tokens", "end_marker"):
        if message.HasField(name):
            fields[name] = getattr(message, name)
    return ThinkingConfig(**fields)


def params_to_proto(params: SamplingParams) -> pb.SamplingParams:
    message = pb.SamplingParams(
        max_new_tokens=params.max_new_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k,
        min_p=params.min_p,
        n=params.n,
        stop=list(params.stop),
        include_stop=params.include_stop,
        logprobs=params.logprobs,
        ignore_eos=params.ignore_eos,
    )
    if params.seed is not None:
        message.seed = params.seed
    if params.grammar is not None:
        setattr(message.grammar, params.grammar.kind, params.grammar.text)
    if params.thinking is not None:
        t = params.thinking
        message.thinking.CopyFrom(
            pb.ThinkingConfig(
                mode=THINKING_MODE_ENUMS[t.mode],
                temperature=t.tau,
                noise_scale=t.noise_scale,
                max_tokens=t.max_tokens,
                end_marker=t.end_marker,
            )
        )
    return message


def completion_to_proto(completion: Completion, tokenizer: Any) -> pb.Completion:
    message = pb.Completion(
        prompt_index=completion.prompt_index,
        sample_index=completion.sample_index,
        text=completion.text,
        token_ids=completion.token_ids,
        finish_reason=FINISH_REASONS[completion.finish_reason],
    )
    if completion.token_logprobs is not None:
        message.logprobs.extend(
            token_logprobs_to_proto(
                list(zip(completion.token_ids, completion.token_logprobs, strict=True)), tokenizer
            )
        )
    if completion.thinking is not None:
        trace = completion.thinking
        message.thinking.CopyFrom(
            pb.ThinkingSummary(
                mode=THINKING_MODE_ENUMS[trace.mode],
                text=trace.text,
                steps=len(trace.tokens),
                ended_by_marker=trace.ended_by == "marker",
            )
        )
    return message


def token_logprobs_to_proto(
    pairs: list[tuple[int, float]], tokenizer: Any
) -> list[pb.TokenLogProb]:
    return [
        pb.TokenLogProb(token_id=t, token=tokenizer.decode([t]), log_prob=lp) for t, lp in pairs
    ]


def generate_request(kind: Any, prompts: Sequence[Prompt], params: SamplingParams | None) -> Any:
    """A Generate or GenerateStream request (`kind`) for `prompts`."""
    if isinstance(prompts, str):
        raise ValueError("prompts must be a list of prompts, not one string")
    return kind(
        prompts=[prompt_to_proto(p) for p in prompts],
        params=params_to_proto(params or SamplingParams()),
    )


def score_request(items: Sequence[tuple[Prompt, str]], temperature: float) -> pb.ScoreRequest:
    return pb.ScoreRequest(
        items=[pb.ScoreItem(prompt=prompt_to_proto(p), continuation=c) for p, c in items],
        temperature=temperature,
    )


def task_to_proto(task: BenchmarkTask) -> benchmark_pb2.Task:
    return benchmark_pb2.Task(
        id=task.id, prompt=prompt_to_proto(task.prompt), metadata=dict(task.metadata)
    )


def task_from_proto(message: benchmark_pb2.Task) -> BenchmarkTask:
    return BenchmarkTask(
        message.id, prompt_from_proto(message.prompt, "task.prompt"), dict(message.metadata)
    )


def grade_request(submissions: Sequence[tuple[str, str]]) -> benchmark_pb2.GradeRequest:
    return benchmark_pb2.GradeRequest(
        submissions=[benchmark_pb2.Submission(task_id=t, answer=a) for t, a in submissions]
    )


def grade_to_proto(grade: GradeResult) -> benchmark_pb2.Grade:
    """`judged` does not travel: an unjudged grade is a plain score of 0 on the wire."""
    return benchmark_pb2.Grade(
        task_id=grade.task_id,
        score=grade.score,
        passed=grade.passed,
        checks=[
            benchmark_pb2.CheckResult(name=c.name, passed=c.passed, detail=c.detail)
            for c in grade.checks
        ],
    )


def grade_from_proto(message: benchmark_pb2.Grade) -> GradeResult:
    return GradeResult(
        task_id=message.task_id,
        score=message.score,
        passed=message.passed,
        checks=tuple(Check(c.name, c.passed, c.detail) for c in message.checks),
    )
