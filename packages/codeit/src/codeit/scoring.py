"""Paper-style scoring: programs ranked by demonstration performance, top 3 judged on the tests.

CodeIt (arXiv 2402.04858) counts a task as solved when any of the three best programs found so
far, ranked by the fraction of demonstration examples they solve (shorter programs first on
ties), produces every test output exactly. The test outputs never influence the ranking, so
the score is what a submission of three attempts would get. As in the official code's
evaluation (a program is a candidate only once it gets some demonstration right), a program
that solves no demonstration is never among the three. `CumulativeScore` keeps the best
candidates of every task across meta-iterations: a task solved once stays solved as long as
no three better-ranked (by demonstrations) programs push its solution out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codeit.data import ArcTask, Example
from codeit.grid import Grid
from codeit.program import ProgramSyntaxError, parse

TOP_K = 3

# An execution's outcome on one input: the output grid, or why there is none.
Output = Grid | str


def demo_score(examples: Sequence[Example], outputs: Sequence[Output]) -> float:
    """Fraction of `examples` whose expected output the program produced exactly."""
    if len(outputs) != len(examples):
        raise ValueError(f"{len(outputs)} outputs for {len(examples)} examples")
    if not examples:
        return 0.0
    return sum(out == ex.output for ex, out in zip(examples, outputs, strict=True)) / len(examples)


def solves_tests(task: ArcTask, test_outputs: Sequence[Output]) -> bool:
    """Whether the program produced every test output of `task` exactly."""
    return bool(task.test) and demo_score(task.test, test_outputs) == 1.0


def program_length(program: str) -> tuple[int, int]:
    """(statement count, text length): the paper's "shorter wins" as a sort key."""
    try:
        statements = len(parse(program).statements)
    except ProgramSyntaxError:
        statements = sum(1 for line in program.splitlines() if line.strip())
    return statements, len(program)


def rank_key(program: str, score: float) -> tuple[float, int, int, str]:
    """Sort key: demo score descending, then shorter, then the text (a total, stable order)."""
    statements, chars = program_length(program)
    return -score, statements, chars, program


@dataclass(frozen=True)
class Candidate:
    program: str
    demo_score: float
    test_correct: bool


class CumulativeScore:
    """The best candidates of every target task over all meta-iterations so far.

    Only the top three of each task are kept: the ranking key of a program does not depend on
    the others, so the top three of a union are the top three of the tops.
    """

    def __init__(self, task_ids: Iterable[str]) -> None:
        self._top: dict[str, list[Candidate]] = {task_id: [] for task_id in task_ids}
        if not self._top:
            raise ValueError("CumulativeScore needs at least one task")

    def add(self, task_id: str, program: str, demo_score: float, test_correct: bool) -> None:
        """Offer one executed program for `task_id`; it stays if it solves at least one
        demonstration and ranks in the top three."""
        if task_id not in self._top:
            raise KeyError(f"task {task_id!r} is not a target of this score")
        if demo_score <= 0:
            return
        top = [c for c in self._top[task_id] if c.program != program]
        previous = next((c for c in self._top[task_id] if c.program == program), None)
        if previous is not None and previous.demo_score >= demo_score:
            return
        top.append(Candidate(program, demo_score, test_correct))
        top.sort(key=lambda c: rank_key(c.program, c.demo_score))
        self._top[task_id] = top[:TOP_K]

    def top(self, task_id: str) -> list[Candidate]:
        """The (up to) three best candidates of `task_id`, best first."""
        return list(self._top[task_id])

    def solved(self, task_id: str) -> bool:
        return any(c.test_correct for c in self._top[task_id])

    @property
    def task_ids(self) -> list[str]:
        return list(self._top)

    @property
    def solved_ids(self) -> list[str]:
        return [task_id for task_id in self._top if self.solved(task_id)]

    @property
    def fraction(self) -> float:
        """Solved tasks over all target tasks (those without any candidate count as unsolved)."""
        return len(self.solved_ids) / len(self._top)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for checkpoints ("solutions so far")."""
        return {
            task_id: [[c.program, c.demo_score, c.test_correct] for c in top]
            for task_id, top in self._top.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CumulativeScore:
        score = cls(data)
        for task_id, top in data.items():
            score._top[task_id] = [Candidate(str(p), float(s), bool(c)) for p, s, c in top]
        return score
