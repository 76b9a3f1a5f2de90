"""A dataset directory as a `reasonloop.benchmarks.Benchmark`, servable over gRPC.

Tasks are the instances (the prompt as one user message); grading runs the domain's
per-constraint checks, so a remote `BenchmarkClient.grade` returns the same checks, score
(fraction passed) and pass (all correct) as `benchagents.scoring` computes in process, and
`reasonloop eval --benchmark grpc://...` evaluates any model on the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchagents.dataset import Dataset, load_dataset_dir
from benchagents.domains import Domain, get_domain
from benchagents.scoring import grade_answer
from reasonloop.benchmarks import Benchmark, BenchmarkTask, GradeResult
from reasonloop.rpc import RunningServer, ServerOptions, serve_benchmark


class DatasetBenchmark(Benchmark):
    """The instances of one dataset version, graded by `domain` (default: the built-in one)."""

    def __init__(self, dataset: Dataset, domain: Domain | None = None) -> None:
        self.dataset = dataset
        self.domain = domain if domain is not None else get_domain(dataset.domain_name)
        self.name = f"{dataset.domain_name}-v{dataset.version}"
        self.description = dataset.plan.description
        self._instances = {i.id: i for i in dataset.instances}
        self._tasks = [
            BenchmarkTask(
                i.id,
                [{"role": "user", "content": i.prompt}],
                {
                    "domain": dataset.domain_name,
                    "constrainedness": str(self.domain.constrainedness(i)),
                },
            )
            for i in dataset.instances
        ]

    def tasks(self) -> Sequence[BenchmarkTask]:
        return self._tasks

    def grade_one(self, task: BenchmarkTask, answer: str) -> GradeResult:
        return grade_answer(self.domain, self._instances[task.id], answer)


def serve_dataset(
    path: str | Path, options: ServerOptions | None = None, domain: Domain | None = None
) -> RunningServer:
    """Serve a dataset version (or a run's latest) over gRPC; returns once listening.

    `options` default to 127.0.0.1:50052; port 0 picks a free port (`RunningServer.port`).
    """
    benchmark = DatasetBenchmark(load_dataset_dir(path), domain)
    return serve_benchmark(benchmark, options=options or ServerOptions(port=50052))
