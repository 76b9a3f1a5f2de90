"""The Benchmark service over gRPC for any `reasonloop.benchmarks.Benchmark`.

Every request field is checked at this edge, before a benchmark sees it: a page token must be
one this server hands out (a decimal task offset), an answer is size-capped before grading
(graders parse it), and an error quotes a sent value only through `reasonloop.limits.shown`,
so a huge field never fills the status details. Bad fields are INVALID_ARGUMENT naming the field
(and so is a request that does not even decode: `reasonloop.rpc.servicers`); unknown task ids
are NOT_FOUND.
"""

from __future__ import annotations

from typing import Any

import grpc

from reasonloop.benchmarks import Benchmark
from reasonloop.limits import shown
from reasonloop.rewards.extraction import MAX_ANSWER_CHARS  # the graders' own cap
from reasonloop.rpc import convert
from reasonloop.rpc.hosting import RunningServer, ServerOptions, start_server
from reasonloop.rpc.servicers import add_servicer
from reasonloop.v1 import benchmark_pb2 as pb
from reasonloop.v1 import benchmark_pb2_grpc

SERVICE = convert.BENCHMARK_SERVICE
SERVICE_NAME = SERVICE.full_name
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_SUBMISSIONS = 4096


class BenchmarkServicer(benchmark_pb2_grpc.BenchmarkServiceServicer):
    def __init__(self, benchmark: Benchmark) -> None:
        self.benchmark = benchmark

    def GetBenchmarkInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.GetBenchmarkInfoResponse(
            name=self.benchmark.name,
            description=self.benchmark.description,
            task_count=len(self.benchmark.tasks()),
        )

    def ListTasks(self, request: pb.ListTasksRequest, context: grpc.ServicerContext) -> Any:
        if request.page_size < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_size must be >= 0")
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        tasks = self.benchmark.tasks()
        start = _page_start(request.page_token, len(tasks))
        if start is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"page_token {shown(request.page_token)} is not one this server handed out",
            )
        end = min(start + size, len(tasks))
        return pb.ListTasksResponse(
            tasks=[convert.task_to_proto(t) for t in tasks[start:end]],
            next_page_token=str(end) if end < len(tasks) else "",
            total_size=len(tasks),
        )

    def GetTask(self, request: pb.GetTaskRequest, context: grpc.ServicerContext) -> Any:
        if not request.task_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "task_id is empty")
        try:
            return pb.GetTaskResponse(
                task=convert.task_to_proto(self.benchmark.task(request.task_id))
            )
        except KeyError as error:
            context.abort(grpc.StatusCode.NOT_FOUND, f"task_id: {error.args[0]}")

    def Grade(self, request: pb.GradeRequest, context: grpc.ServicerContext) -> Any:
        submissions = request.submissions
        if not submissions:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "submissions: at least one is needed")
        if len(submissions) > MAX_SUBMISSIONS:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"submissions: {len(submissions)} is above the limit of {MAX_SUBMISSIONS}",
            )
        for i, s in enumerate(submissions):
            if len(s.answer) > MAX_ANSWER_CHARS:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"submissions[{i}].answer: {len(s.answer)} characters is above the limit "
                    f"of {MAX_ANSWER_CHARS}",
                )
            try:
                self.benchmark.task(s.task_id)
            except KeyError as error:
                context.abort(
                    grpc.StatusCode.NOT_FOUND, f"submissions[{i}].task_id: {error.args[0]}"
                )
        try:
            grades = self.benchmark.grade([(s.task_id, s.answer) for s in submissions])
        except Exception as error:  # a grader bug: report it, keep serving
            context.abort(grpc.StatusCode.INTERNAL, f"grading failed: {shown(error, 200)}")
        return pb.GradeResponse(grades=[convert.grade_to_proto(g) for g in grades])


def _page_start(token: str, total: int) -> int | None:
    """The task offset a page token stands for: "" is 0, else the ASCII decimal offset this
    server handed out (at most `total`); None for anything else. The text is checked before
    int() sees it: str.isdigit() accepts "²", which int() refuses, and int() refuses a
    5,000-digit text."""
    if not token:
        return 0
    if len(token) > len(str(total)) or not (token.isascii() and token.isdigit()):
        return None
    start = int(token)
    return start if start <= total else None


def add_benchmark_service(server: grpc.Server, benchmark: Benchmark) -> None:
    add_servicer(server, SERVICE, BenchmarkServicer(benchmark))


def serve_benchmark(
    benchmark: Benchmark, port: int = 50052, options: ServerOptions | None = None
) -> RunningServer:
    """Serve `benchmark` (tasks + grader) with health and reflection; returns when started.

    `port` is used unless `options` is given (then `options.port` is); port 0 picks a free one.
    """
    return start_server(
        lambda server: add_benchmark_service(server, benchmark),
        [SERVICE_NAME],
        options or ServerOptions(port=port),
    )
