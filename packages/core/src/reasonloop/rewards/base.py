"""The answer checkers' interface: a batch of (prompt, completion, reference answer) in, one
result per item out. `reasonloop.benchmarks.ReferenceBenchmark` adapts a checker to the
scoring contract (`reasonloop.benchmarks`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class RewardResult:
    """A score plus whatever explains it (extracted answer, outcome, reason), kept for logging.

    A score of NaN means the item was not judged (e.g. the math comparison timed out):
    callers must tell it apart from a wrong answer, which scores 0.
    """

    score: float
    details: dict[str, object] = field(default_factory=dict)


class Reward(Protocol):
    """Scores a batch; item i of every input belongs to item i of the output."""

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]: ...


def check_lengths(
    prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
) -> None:
    # A silent zip() would drop items and misalign scores with samples.
    if not len(prompts) == len(completions) == len(references):
        raise ValueError(
            "prompts, completions and references must have the same length, got "
            f"{len(prompts)}, {len(completions)} and {len(references)}"
        )
