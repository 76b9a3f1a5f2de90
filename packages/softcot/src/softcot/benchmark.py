"""softcot's math problems as a reasonloop Benchmark: served over gRPC, and what grades them
in-process too (the trainer's reward and the evaluation matrix go through `grade`).

Task ids are the problems' ids, so a trainer whose `train.reward` is this server's address
gets, through `Grade`, the same reward it would compute in-process.
"""

from __future__ import annotations

from collections.abc import Sequence

from reasonloop.benchmarks import BenchmarkTask, ReferenceBenchmark
from reasonloop.rewards import Reward
from softcot.prompts import MathProblem, chat_prompt


def math_benchmark(
    problems: Sequence[MathProblem], name: str, reward: Reward | None = None
) -> ReferenceBenchmark:
    """The problems as tasks (their chat prompts), each graded against its answer by
    `reward` (math-verify by default). A problem id used twice is a ValueError."""
    tasks = [
        BenchmarkTask(p.id, chat_prompt(p), {"level": str(p.level), "family": p.family})
        for p in problems
    ]
    return ReferenceBenchmark(
        name,
        tasks,
        {p.id: p.answer for p in problems},
        reward,
        description="math word problems, graded by math-verify on the \\boxed{} answer",
    )
