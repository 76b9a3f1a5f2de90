"""The Benchmark service: a Benchmark subclass served, paged and graded; a reference
benchmark's unjudged answers."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import pytest

from reasonloop.benchmarks import (
    Benchmark,
    BenchmarkTask,
    Check,
    GradeResult,
    ReferenceBenchmark,
    arithmetic_benchmark,
)
from reasonloop.rewards import RewardResult
from reasonloop.rpc import AsyncBenchmarkClient, BenchmarkClient, serve_benchmark
from reasonloop.v1 import benchmark_pb2 as pb
from reasonloop.v1 import benchmark_pb2_grpc


class PalindromeBenchmark(Benchmark):
    """A method-style benchmark: its own tasks and a two-check grader."""

    name = "palindromes"
    description = "write a palindrome that starts with the given letter"

    def tasks(self) -> Sequence[BenchmarkTask]:
        return [
            BenchmarkTask(f"p{c}", f"A palindrome starting with {c}:", {"letter": c})
            for c in "abcdefghijkl"
        ]

    def grade_one(self, task: BenchmarkTask, answer: str) -> GradeResult:
        word = answer.strip()
        checks = (
            Check("palindrome", bool(word) and word == word[::-1]),
            Check("letter", word.startswith(task.metadata["letter"]), f"got {word[:1]!r}"),
        )
        passed = sum(c.passed for c in checks)
        return GradeResult(task.id, passed / 2, passed == 2, checks)


@pytest.fixture
def address() -> Iterator[str]:
    with serve_benchmark(PalindromeBenchmark(), port=0) as server:
        yield f"127.0.0.1:{server.port}"


def test_pages_cover_every_task_once(address: str) -> None:
    client = BenchmarkClient(address)
    first = client.list_tasks(page_size=5)
    assert [t.id for t in first.tasks] == ["pa", "pb", "pc", "pd", "pe"]
    assert first.total_size == 12 and first.next_page_token
    seen, token = [], ""
    while True:
        page = client.list_tasks(page_size=5, page_token=token)
        seen += [t.id for t in page.tasks]
        token = page.next_page_token
        if not token:
            break
    assert seen == [t.id for t in PalindromeBenchmark().tasks()]
    assert [t.id for t in client.tasks()] == seen
    info = client.info()
    assert (info.name, info.task_count) == ("palindromes", 12)


def test_get_task_and_grade(address: str) -> None:
    client = BenchmarkClient(address)
    task = client.task("pc")
    assert task.prompt == "A palindrome starting with c:" and task.metadata == {"letter": "c"}
    grades = client.grade([("pc", "civic"), ("pc", "radar"), ("pa", "abc")])
    assert [(g.score, g.passed) for g in grades] == [(1.0, True), (0.5, False), (0.5, False)]
    assert grades[1].checks[1] == Check("letter", False, "got 'r'")


def test_bad_requests(address: str) -> None:
    stub = benchmark_pb2_grpc.BenchmarkServiceStub(grpc.insecure_channel(address))
    cases = [
        (stub.GetTask, pb.GetTaskRequest(task_id="nope"), grpc.StatusCode.NOT_FOUND, "nope"),
        (stub.GetTask, pb.GetTaskRequest(), grpc.StatusCode.INVALID_ARGUMENT, "task_id"),
        (stub.Grade, pb.GradeRequest(), grpc.StatusCode.INVALID_ARGUMENT, "submissions"),
        (
            stub.Grade,
            pb.GradeRequest(submissions=[pb.Submission(task_id="pa"), pb.Submission(task_id="x")]),
            grpc.StatusCode.NOT_FOUND,
            "submissions[1].task_id",
        ),
        (
            stub.ListTasks,
            pb.ListTasksRequest(page_token="garbage"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_token",
        ),
        (
            stub.ListTasks,
            pb.ListTasksRequest(page_size=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_size",
        ),
    ]
    for call, request, code, text in cases:
        with pytest.raises(grpc.RpcError) as error:
            call(request)
        assert error.value.code() == code
        assert text in error.value.details()


def test_a_grader_that_crashes_is_an_internal_error_not_a_dead_server() -> None:
    class Broken(PalindromeBenchmark):
        def grade_one(self, task: BenchmarkTask, answer: str) -> GradeResult:
            raise ZeroDivisionError("oops")

    with serve_benchmark(Broken(), port=0) as server:
        client = BenchmarkClient(f"127.0.0.1:{server.port}")
        with pytest.raises(grpc.RpcError) as error:
            client.grade([("pa", "a")])
        assert error.value.code() == grpc.StatusCode.INTERNAL
        assert "oops" in error.value.details()
        assert client.info().task_count == 12


def test_async_client(address: str) -> None:
    async def main() -> tuple[int, list[GradeResult], BenchmarkTask]:
        async with AsyncBenchmarkClient(address) as client:
            tasks = await client.tasks()
            grades = await client.grade([("pb", "bob")])
            return len(tasks), grades, await client.task("pl")

    count, grades, task = asyncio.run(main())
    assert count == 12
    assert grades[0].passed
    assert task.metadata["letter"] == "l"


class UnjudgedAfterFirst:
    """An answer checker that judges only the first item of a batch (NaN after it, as a math
    comparison that timed out twice)."""

    def __call__(self, prompts, completions, references) -> list[RewardResult]:
        return [
            RewardResult(float(c == r) if i == 0 else math.nan, {"outcome": "x"})
            for i, (c, r) in enumerate(zip(completions, references, strict=True))
        ]


def test_an_unjudged_answer_is_a_grade_of_zero_that_says_so_in_process() -> None:
    tasks = [BenchmarkTask("a", "say a"), BenchmarkTask("b", "say b")]
    bench = ReferenceBenchmark("judge", tasks, {"a": "a", "b": "b"}, UnjudgedAfterFirst())
    submissions = [("a", "a"), ("b", "b")]
    judged, unjudged = bench.grade(submissions)
    assert (judged.score, judged.passed, judged.judged) == (1.0, True, True)
    assert (unjudged.score, unjudged.passed, unjudged.judged) == (0.0, False, False)
    with serve_benchmark(bench, port=0) as server:  # the wire has no `judged`: a plain 0
        remote = BenchmarkClient(f"127.0.0.1:{server.port}").grade(submissions)
    assert [(g.score, g.passed, g.checks) for g in remote] == [
        (g.score, g.passed, g.checks) for g in (judged, unjudged)
    ]


def test_arithmetic_benchmark_grades_with_math_verify() -> None:
    bench = arithmetic_benchmark(size=6, seed=3)
    with serve_benchmark(bench, port=0) as server:
        client = BenchmarkClient(f"127.0.0.1:{server.port}")
        tasks = client.tasks()
        assert tasks == list(bench.tasks())  # chat prompts survive the wire
        reference = bench._references[tasks[0].id]
        grades = client.grade(
            [
                (tasks[0].id, f"So the total is \\boxed{{{reference}}}."),
                (tasks[0].id, "\\boxed{-1}"),
            ]
        )
    assert [g.passed for g in grades] == [True, False]


def test_reference_benchmark_from_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "q1", "question": "Capital of France?", "answer": "Paris"},
                {"prompt": [{"role": "user", "content": "2+3?"}], "answer": "5"},
            ]
        )
    )
    bench = ReferenceBenchmark.from_jsonl(path, grader="exact")
    assert [t.id for t in bench.tasks()] == ["q1", "2"]
    assert [g.passed for g in bench.grade([("q1", "paris"), ("2", "6")])] == [True, False]
    (tmp_path / "bad.jsonl").write_text('{"question": "no answer"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        ReferenceBenchmark.from_jsonl(tmp_path / "bad.jsonl")
