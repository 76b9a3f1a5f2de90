"""Each client call of both services, written once for the blocking and the asyncio clients.

The two kinds of client differ only in how they wait for a reply. So a call is declared here
once, as an exchange: a generator function that takes the call's parameters, yields the RPCs
it needs (`Rpc`: stub method, request, deadline), receives their replies and returns the
call's result in the core's types. It does no I/O; `reasonloop.rpc.clients` runs it on a
channel, blocking or awaiting. A parameter, its default, its checks, the request it becomes
and the reading of the reply stand in one place. A server-streaming call returns its one `Rpc`
and the client iterates the replies.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from reasonloop.benchmarks import BenchmarkTask, GradeResult
from reasonloop.rpc import convert
from reasonloop.sampling.params import Prompt, SamplingParams
from reasonloop.v1 import benchmark_pb2, inference_pb2

R = TypeVar("R")


@dataclass(frozen=True)
class Rpc(Generic[R]):
    """One RPC to make: the stub's method name, its request and the deadline (None: the
    connection's). `R` is its reply type (each reply of a stream)."""

    method: str
    request: Message
    timeout_s: float | None


Exchange = Generator[Rpc[Any], Any, R]  # yields RPCs, is sent their replies, returns R


# Inference service


def generate_response(
    prompts: Sequence[Prompt],
    params: SamplingParams | None = None,
    *,
    timeout_s: float | None = None,
) -> Exchange[inference_pb2.GenerateResponse]:
    """The whole response: completions, token usage, and the name of the model (replica)
    that answered."""
    request = convert.generate_request(inference_pb2.GenerateRequest, prompts, params)
    return (yield Rpc("Generate", request, timeout_s))


def generate(
    prompts: Sequence[Prompt],
    params: SamplingParams | None = None,
    *,
    timeout_s: float | None = None,
) -> Exchange[list[list[inference_pb2.Completion]]]:
    """Per prompt, its n completions (in sample order)."""
    response = yield from generate_response(prompts, params, timeout_s=timeout_s)
    groups: list[list[inference_pb2.Completion]] = [[] for _ in prompts]
    for completion in response.completions:
        groups[completion.prompt_index].append(completion)
    return groups


def stream(
    prompts: Sequence[Prompt],
    params: SamplingParams | None = None,
    *,
    timeout_s: float | None = None,
) -> Rpc[inference_pb2.GenerateStreamResponse]:
    """Text deltas as decoded; the call is cancelled if the iterator is closed early."""
    request = convert.generate_request(inference_pb2.GenerateStreamRequest, prompts, params)
    return Rpc("GenerateStream", request, timeout_s)


def score(
    items: Sequence[tuple[Prompt, str]],
    temperature: float = 1.0,
    *,
    timeout_s: float | None = None,
) -> Exchange[list[inference_pb2.ScoreResult]]:
    """Log-probs of each (prompt, continuation)'s continuation tokens."""
    response = yield Rpc("Score", convert.score_request(items, temperature), timeout_s)
    return list(response.results)


def model_info(*, timeout_s: float | None = None) -> Exchange[inference_pb2.GetModelInfoResponse]:
    """What the server serves: the model spec, its source, vocabulary and context length."""
    return (yield Rpc("GetModelInfo", inference_pb2.GetModelInfoRequest(), timeout_s))


# Benchmark service


def info(*, timeout_s: float | None = None) -> Exchange[benchmark_pb2.GetBenchmarkInfoResponse]:
    """The benchmark's name, description and task count."""
    return (yield Rpc("GetBenchmarkInfo", benchmark_pb2.GetBenchmarkInfoRequest(), timeout_s))


def list_tasks(
    page_size: int = 0, page_token: str = "", *, timeout_s: float | None = None
) -> Exchange[benchmark_pb2.ListTasksResponse]:
    """One page of tasks (page_size 0: the server's default, 100) and the next page's token."""
    request = benchmark_pb2.ListTasksRequest(page_size=page_size, page_token=page_token)
    return (yield Rpc("ListTasks", request, timeout_s))


def tasks(*, timeout_s: float | None = None) -> Exchange[list[BenchmarkTask]]:
    """Every task, all pages (`timeout_s` is each page's deadline)."""
    found: list[BenchmarkTask] = []
    token = ""
    while True:
        page = yield from list_tasks(page_token=token, timeout_s=timeout_s)
        found.extend(convert.task_from_proto(t) for t in page.tasks)
        token = page.next_page_token
        if not token:
            return found


def task(task_id: str, *, timeout_s: float | None = None) -> Exchange[BenchmarkTask]:
    """The task with this id."""
    request = benchmark_pb2.GetTaskRequest(task_id=task_id)
    response = yield Rpc("GetTask", request, timeout_s)
    return convert.task_from_proto(response.task)


def grade(
    submissions: Sequence[tuple[str, str]], *, timeout_s: float | None = None
) -> Exchange[list[GradeResult]]:
    """Grades of (task id, answer) pairs, in order."""
    response = yield Rpc("Grade", convert.grade_request(submissions), timeout_s)
    return [convert.grade_from_proto(g) for g in response.grades]
