"""Hostile requests to the four Benchmark servers: core's dataset server, softcot's math
problems, codeit's ARC tasks and a benchagents dataset, each a real gRPC server on localhost.

Every bad field is refused with a short message naming it (a huge value is quoted only in
part), and the server keeps serving afterwards.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from reasonloop.benchmarks import Benchmark, ReferenceBenchmark
from reasonloop.rpc import BenchmarkClient, serve_benchmark
from reasonloop.rpc.benchmark_server import MAX_ANSWER_CHARS
from reasonloop.v1 import benchmark_pb2 as pb
from reasonloop.v1 import benchmark_pb2_grpc

SHORT = 300  # the longest error message a bad request may get back


def core_dataset(tmp: Path) -> Benchmark:
    """What `reasonloop serve-benchmark --tasks FILE --grader exact` serves."""
    lines = [
        json.dumps({"id": f"q{i}", "question": f"{i} + {i}?", "answer": 2 * i}) for i in range(5)
    ]
    (tmp / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    return ReferenceBenchmark.from_jsonl(tmp / "tasks.jsonl", grader="exact")


def softcot_math(tmp: Path) -> Benchmark:
    from softcot.benchmark import math_benchmark
    from softcot.problems import load_problems

    return math_benchmark(load_problems("builtin:arith?count=5", split="test"), "softcot-test")


def codeit_arc(tmp: Path, stack: ExitStack) -> Benchmark:
    from codeit.benchmark import ArcBenchmark
    from codeit.data import load_tasks
    from codeit.execution import ProgramRunner
    from codeit.seeds import SEED_PROGRAMS

    tasks = {t.id: t for t in load_tasks("arc1-train")}
    runner = stack.enter_context(ProgramRunner(1))
    return ArcBenchmark("arc-test", [tasks[i] for i in sorted(SEED_PROGRAMS)[:3]], runner)


def benchagents_calendar(tmp: Path) -> Benchmark:
    from benchagents.benchmark import DatasetBenchmark
    from benchagents.dataset import load_dataset_dir, write_dataset
    from benchagents.domains import get_domain

    domain = get_domain("calendar")
    plan = domain.default_plan()
    rng = random.Random(3)
    instances = [
        domain.generate(domain.sample_params(plan, rng), rng, f"cal-{i}") for i in range(3)
    ]
    path = write_dataset(tmp, plan, instances, "calendar", {"generated": len(instances)})
    return DatasetBenchmark(load_dataset_dir(path))


SERVERS: dict[str, Callable[..., Benchmark]] = {
    "core": core_dataset,
    "softcot": softcot_math,
    "codeit": codeit_arc,
    "benchagents": benchagents_calendar,
}


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    make = SERVERS[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    with ExitStack() as stack:
        benchmark = make(tmp, stack) if request.param == "codeit" else make(tmp)
        running = stack.enter_context(serve_benchmark(benchmark, port=0))
        address = f"127.0.0.1:{running.port}"
        channel = stack.enter_context(grpc.insecure_channel(address))
        yield benchmark_pb2_grpc.BenchmarkServiceStub(channel), benchmark, address


def refused(call: Callable, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(request, timeout=60)
    assert len(error.value.details()) < SHORT, error.value.details()[:SHORT]
    return error.value


BAD_TOKENS = ["²", "9" * 5000, "٣", "-1", "+1", " 1", "1\n", "0x1", "1e3", "1" * 200, "x"]


def test_bad_page_tokens_are_invalid_arguments(server) -> None:
    stub, benchmark, _ = server
    total = len(benchmark.tasks())
    for token in [*BAD_TOKENS, str(total + 1)]:
        error = refused(stub.ListTasks, pb.ListTasksRequest(page_token=token))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, token
        assert error.details().startswith("page_token "), error.details()
    assert (
        "(5000 characters)"
        in refused(stub.ListTasks, pb.ListTasksRequest(page_token="9" * 5000)).details()
    )
    # the tokens the server hands out still page through every task once
    first = stub.ListTasks(pb.ListTasksRequest(page_size=2))
    rest = stub.ListTasks(pb.ListTasksRequest(page_token=first.next_page_token, page_size=1000))
    assert [t.id for t in (*first.tasks, *rest.tasks)] == [t.id for t in benchmark.tasks()]
    assert rest.next_page_token == ""
    end = stub.ListTasks(pb.ListTasksRequest(page_token=str(total)))
    assert list(end.tasks) == [] and end.total_size == total


def test_huge_and_odd_task_ids_are_not_found_briefly(server) -> None:
    stub, benchmark, _ = server
    for task_id in ["x" * 1_000_000, "\x00", "²", "../../etc/passwd", "🙂" * 50, "a\nb"]:
        error = refused(stub.GetTask, pb.GetTaskRequest(task_id=task_id))
        assert error.code() == grpc.StatusCode.NOT_FOUND, task_id[:20]
        assert error.details().startswith("task_id: no task with id ")
    huge = refused(stub.GetTask, pb.GetTaskRequest(task_id="x" * 1_000_000)).details()
    assert "(1000000 characters)" in huge
    known = benchmark.tasks()[0].id
    grade = pb.GradeRequest(
        submissions=[pb.Submission(task_id=known), pb.Submission(task_id="y" * 1_000_000)]
    )
    error = refused(stub.Grade, grade)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details().startswith("submissions[1].task_id: no task with id 'yyy")


def test_huge_answers_are_refused_before_grading(server) -> None:
    stub, benchmark, address = server
    known = benchmark.tasks()[0].id
    at_limit = pb.Submission(task_id=known, answer="7" * MAX_ANSWER_CHARS)
    for answer in ("7" * (MAX_ANSWER_CHARS + 1), "7\n" * 1_000_000):
        over = pb.Submission(task_id=known, answer=answer)
        error = refused(stub.Grade, pb.GradeRequest(submissions=[at_limit, over]))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == (
            f"submissions[1].answer: {len(answer)} characters is above the limit of "
            f"{MAX_ANSWER_CHARS}"
        )
    # an answer at the limit is graded (and fails), and the server goes on serving
    started = time.monotonic()
    (grade,) = stub.Grade(pb.GradeRequest(submissions=[at_limit]), timeout=120).grades
    assert (grade.task_id, grade.passed) == (known, False)
    assert time.monotonic() - started < 60
    with BenchmarkClient(address) as client:
        assert client.info().task_count == len(benchmark.tasks())


UNDECODABLE = {
    "GetTask": b"\x0a\x02\xff\xfe",  # task_id: two bytes that are not UTF-8
    "ListTasks": b"\x12\x03\xc2\xb2\xff",  # page_token: "²" and a stray byte
    "Grade": b"\x0a\xff\xff\xff\xff\x0f",  # a submission longer than the request
    "GetBenchmarkInfo": b"\xff\xff\xff",  # not the wire format at all
}


def test_requests_that_do_not_decode_are_invalid_arguments(server) -> None:
    _, benchmark, address = server
    with grpc.insecure_channel(address) as channel:
        for method, data in UNDECODABLE.items():
            call = channel.unary_unary(f"/reasonloop.v1.BenchmarkService/{method}")
            with pytest.raises(grpc.RpcError) as error:
                call(data, timeout=60)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
            assert error.value.details().startswith(f"request: not a valid {method}"), method
            assert len(error.value.details()) < SHORT
    with BenchmarkClient(address) as client:
        assert client.info().task_count == len(benchmark.tasks())
