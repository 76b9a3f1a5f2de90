"""A Benchmark server's grade as a reward: one method's benchmark is another's RL environment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from reasonloop.rewards.base import RewardResult, check_lengths

if TYPE_CHECKING:
    from reasonloop.rpc.clients import BenchmarkClient, Connection


class BenchmarkReward:
    """Scores completions with the `Grade` RPC; the references are the task ids."""

    def __init__(self, benchmark: BenchmarkClient | Connection | str | Sequence[str]) -> None:
        from reasonloop.rpc.clients import BenchmarkClient

        self.client = (
            benchmark if isinstance(benchmark, BenchmarkClient) else BenchmarkClient(benchmark)
        )

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]:
        check_lengths(prompts, completions, references)
        if not completions:
            return []
        grades = self.client.grade(list(zip(references, completions, strict=True)))
        return [
            RewardResult(
                g.score,
                {"passed": g.passed, **{f"check:{c.name}": c.passed for c in g.checks}},
            )
            for g in grades
        ]
