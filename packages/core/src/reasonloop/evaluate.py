"""Cross-method evaluation: any model (in-process or an Inference endpoint) on any benchmark
(in-process or a Benchmark endpoint), reported as pass@k with 95% confidence intervals.

Tasks are sent in chunks from a few threads at once, so a batching server (or the in-process
engine) decodes them together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

from rich.table import Table

from reasonloop.atomic import write_atomic
from reasonloop.benchmarks import BenchmarkTask, GradeResult, TaskSource
from reasonloop.limits import shown
from reasonloop.metrics import MeanCI, check_pass_at_k, mean_ci, mean_pass_at_k
from reasonloop.sampling.params import Prompt, SamplingParams

GenerateTexts = Callable[[list[Prompt], SamplingParams], list[list[str]]]


@dataclass
class TaskOutcome:
    task_id: str
    samples: int
    passed: int
    mean_score: float
    first_answer: str

    @classmethod
    def of(cls, task_id: str, answers: Sequence[str], grades: Sequence[GradeResult]) -> TaskOutcome:
        return cls(
            task_id=task_id,
            samples=len(grades),
            passed=sum(g.passed for g in grades),
            mean_score=sum(g.score for g in grades) / len(grades),
            first_answer=answers[0],
        )


@dataclass
class EvalReport:
    model: str
    benchmark: str
    samples: int
    params: dict[str, Any]
    pass_at_k: dict[int, MeanCI]
    mean_score: MeanCI
    tasks: list[TaskOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pass_at_k"] = {f"pass@{k}": asdict(v) for k, v in self.pass_at_k.items()}
        return data

    def write(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    def table(self) -> Table:
        """One row per pass@k and one for the mean score: mean and 95% CI."""
        table = Table(title=f"{self.model} on {self.benchmark} ({len(self.tasks)} tasks)")
        for name in ("metric", "mean", "95% CI"):
            table.add_column(name)
        rows = [
            *((f"pass@{k}", ci) for k, ci in self.pass_at_k.items()),
            ("mean score", self.mean_score),
        ]
        for name, ci in rows:
            table.add_row(name, f"{ci.mean:.3f}", f"[{ci.low:.3f}, {ci.high:.3f}]")
        return table


def grade_samples(
    benchmark: TaskSource, task_ids: Sequence[str], answers: Sequence[Sequence[str]]
) -> list[list[GradeResult]]:
    """Every task's sampled answers graded in one `grade` call: per task, the grades of its
    answers in their order. A benchmark that answers with another number of grades or out of
    order (a remote one can) is a ValueError, never grades counted for the wrong task."""
    submissions = [(t, a) for t, group in zip(task_ids, answers, strict=True) for a in group]
    grades = benchmark.grade(submissions)
    if len(grades) != len(submissions):
        raise ValueError(f"the benchmark gave {len(grades)} grades for {len(submissions)} answers")
    for i, ((task_id, _), grade) in enumerate(zip(submissions, grades, strict=True)):
        if grade.task_id != task_id:
            raise ValueError(
                f"the benchmark's grade {i} is for task {shown(grade.task_id)}, "
                f"not {shown(task_id)}"
            )
    ends = list(accumulate(len(group) for group in answers))
    return [grades[end - len(group) : end] for group, end in zip(answers, ends, strict=True)]


def write_json(path: str | Path, data: Any) -> None:
    """Atomically: a crash mid-write never leaves half a report."""
    write_atomic(path, json.dumps(data, indent=2))


def evaluate(
    generate: GenerateTexts,
    benchmark: TaskSource,
    *,
    model_name: str,
    benchmark_name: str,
    samples: int = 8,
    ks: Sequence[int] = (1, 8),
    params: SamplingParams | None = None,
    limit: int | None = None,
    chunk_size: int = 8,
    concurrency: int = 4,
    on_progress: Callable[[int], None] | None = None,
    tasks: Sequence[BenchmarkTask] | None = None,
) -> EvalReport:
    """Sample `samples` answers per task, grade them, report pass@k for each k.

    `tasks`, when the caller already listed the benchmark's tasks, saves listing them again
    (a remote benchmark pages through all of them).
    """
    check_pass_at_k(samples, ks)
    params = params or SamplingParams(temperature=0.7, max_new_tokens=256)
    params = replace(params, n=samples)
    tasks = list(benchmark.tasks() if tasks is None else tasks)[:limit]
    if not tasks:
        raise ValueError("the benchmark has no tasks")
    chunks = [tasks[i : i + chunk_size] for i in range(0, len(tasks), chunk_size)]
    started = time.perf_counter()

    def run(chunk: list[BenchmarkTask]) -> list[TaskOutcome]:
        answers = generate([t.prompt for t in chunk], params)
        grades = grade_samples(benchmark, [t.id for t in chunk], answers)
        outcomes = [
            TaskOutcome.of(task.id, group, mine)
            for task, group, mine in zip(chunk, answers, grades, strict=True)
        ]
        if on_progress is not None:
            on_progress(len(chunk))
        return outcomes

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = [o for chunk_outcomes in pool.map(run, chunks) for o in chunk_outcomes]
    passed = [o.passed for o in outcomes]
    return EvalReport(
        model=model_name,
        benchmark=benchmark_name,
        samples=samples,
        params=asdict(params),
        pass_at_k={k: mean_pass_at_k(passed, samples, k) for k in ks},
        mean_score=mean_ci(o.mean_score for o in outcomes),
        tasks=outcomes,
        elapsed_s=time.perf_counter() - started,
    )
