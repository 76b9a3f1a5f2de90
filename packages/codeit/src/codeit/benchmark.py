"""ARC tasks as a reasonloop Benchmark: any served model can be graded on them over gRPC.

An answer is either a DSL program (run in codeit's sandbox on the test inputs) or the output
grids themselves, as digit rows with a blank line between grids. A task is passed when every
test output is right; the score is the fraction of test outputs that are.
"""

from __future__ import annotations

from collections.abc import Sequence

from codeit.data import ArcTask
from codeit.execution import ProgramRunner
from codeit.grid import Grid, grid_from_text, grid_to_text
from codeit.program import ProgramSyntaxError, parse
from codeit.scoring import Output
from reasonloop.benchmarks import Benchmark, BenchmarkTask, Check, GradeResult

ANSWER_FORMAT = (
    "Answer with a program in the codeit grid DSL (assignments, the result in O), or with the "
    "output grid of each test input: one row of digits per line, a blank line between grids."
)


def benchmark_prompt(task: ArcTask) -> str:
    """All demonstrations, the test inputs, and how to answer."""
    parts = ["Each input grid is turned into its output grid by the same rule.\n"]
    for example in task.train:
        parts.append(f"input:\n{grid_to_text(example.input)}\n")
        parts.append(f"output:\n{grid_to_text(example.output)}\n")
    for n, example in enumerate(task.test, 1):
        parts.append(f"test input {n}:\n{grid_to_text(example.input)}\n")
    parts.append(ANSWER_FORMAT + "\n")
    return "".join(parts)


def parse_grids(answer: str) -> list[Grid]:
    """Output grids written as digit rows separated by blank lines; ValueError if not."""
    blocks = [b for b in answer.strip().split("\n\n") if b.strip()]
    if not blocks:
        raise ValueError("the answer is empty")
    return [grid_from_text(b.strip()) for b in blocks]


class ArcBenchmark(Benchmark):
    """ARC tasks graded by running the submitted program (sandboxed) or comparing grids."""

    def __init__(self, name: str, tasks: Sequence[ArcTask], runner: ProgramRunner) -> None:
        self.name = name
        self.description = f"{len(tasks)} ARC tasks; answer with a DSL program or output grids"
        self.arc_tasks = {t.id: t for t in tasks}
        self.runner = runner

    def tasks(self) -> Sequence[BenchmarkTask]:
        return [
            BenchmarkTask(t.id, benchmark_prompt(t), {"tests": str(len(t.test))})
            for t in self.arc_tasks.values()
        ]

    def grade_one(self, task: BenchmarkTask, answer: str) -> GradeResult:
        return self.grade([(task.id, answer)])[0]

    def grade(self, submissions: Sequence[tuple[str, str]]) -> list[GradeResult]:
        """Programs of the whole batch run in the sandbox together; grids are compared."""
        outputs: dict[int, Sequence[Output]] = {}
        programs = []
        for i, (task_id, answer) in enumerate(submissions):
            task = self.arc_tasks[task_id]
            if _is_program(answer):
                programs.append((i, answer, task))
                continue
            try:
                outputs[i] = parse_grids(answer)
            except ValueError as error:
                outputs[i] = [f"not a program nor grids: {error}"] * len(task.test)
        results = self.runner.run(
            [answer for _, answer, _ in programs],
            [[e.input for e in task.test] for _, _, task in programs],
        )
        for (i, _, _), result in zip(programs, results, strict=True):
            outputs[i] = result.outputs
        return [
            _grade(self.arc_tasks[task_id], outputs[i])
            for i, (task_id, _) in enumerate(submissions)
        ]


def _is_program(answer: str) -> bool:
    try:
        parse(answer.strip())
    except ProgramSyntaxError:
        return False
    return True


def _grade(task: ArcTask, outputs: Sequence[Output]) -> GradeResult:
    checks = []
    for n, example in enumerate(task.test, 1):
        got = outputs[n - 1] if n - 1 < len(outputs) else "no output"
        if isinstance(got, str):
            checks.append(Check(f"test {n}", False, got))
        elif got == example.output:
            checks.append(Check(f"test {n}", True))
        else:
            size = f"{len(got)}x{len(got[0])}"
            checks.append(Check(f"test {n}", False, f"wrong grid ({size})"))
    if len(outputs) > len(task.test):
        checks.append(Check("grid count", False, f"{len(outputs)} grids for {len(task.test)}"))
    passed = sum(c.passed for c in checks if c.name.startswith("test"))
    return GradeResult(
        task.id,
        score=passed / len(task.test),
        passed=all(c.passed for c in checks),
        checks=tuple(checks),
    )
