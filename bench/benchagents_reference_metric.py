"""Strict vs reference (BA-Calendar's published metric) on the same answers (issue 15).

Generates calendar instances as `benchagents create calendar` does (default plan, seed 0),
takes the project's own correct answers (the solver's reference) in several layouts and some
perturbed ones, grades each set in both metrics and prints the all-correct rates side by side,
the answers on which the verdicts differ counted by reason, and the grading time per answer.

    uv run python bench/benchagents_reference_metric.py
    uv run python bench/benchagents_reference_metric.py --count 1000 --seed 3
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Callable

from benchagents.agents import Generator
from benchagents.domains import get_domain
from benchagents.domains.calendar.ba_calendar_reference import (
    grade_reference,
    reference_priority_slot,
)
from benchagents.domains.calendar.solver import NO_SOLUTION, format_clock
from benchagents.instance import Instance
from benchagents.scoring import grade_answer, score_answers

_SLOT = re.compile(r"^(\w+) (\d\d):(\d\d)-(\d\d):(\d\d)$")


def shifted(reference: str, minutes: int) -> str | None:
    """The slot moved by `minutes` (None for the no-solution sentence)."""
    m = _SLOT.match(reference)
    if m is None:
        return None
    day, h1, m1, h2, m2 = m.groups()
    start, end = int(h1) * 60 + int(m1) + minutes, int(h2) * 60 + int(m2) + minutes
    return f"{day} {format_clock(start)}-{format_clock(end)}"


def unpadded(reference: str) -> str:
    return re.sub(r"\b0(\d):", r"\1:", reference)


ANSWER_SETS: dict[str, Callable[[str], str | None]] = {
    "as stored (no 'Final Answer:')": lambda r: r,
    "Final Answer: <reference>": lambda r: f"Final Answer: {r}",
    "Final Answer: unpadded hours": lambda r: f"Final Answer: {unpadded(r)}",
    "**Final Answer:** (markdown)": lambda r: f"Reasoning.\n**Final Answer:** {r}",
    "Final Answer: shifted +5 min": lambda r: (s := shifted(r, 5)) and f"Final Answer: {s}",
    "Final Answer: shifted +30 min": lambda r: (s := shifted(r, 30)) and f"Final Answer: {s}",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    calendar = get_domain("calendar")
    plan = calendar.default_plan()
    instances = Generator(calendar, None).generate(plan, args.count, args.seed).instances
    unsolvable = sum(i.reference == NO_SOLUTION for i in instances)
    priority = [i for i in instances if i.constraints.get("high_priority_meeting")]
    solvable_priority = sum(i.reference != NO_SOLUTION for i in priority)
    print(
        f"{len(instances)} generated calendar instances (seed {args.seed}): {unsolvable} "
        f"unsolvable, {len(priority)} high-priority ({solvable_priority} of them solvable)\n"
    )
    for label, make in ANSWER_SETS.items():
        answers = {i.id: make(i.reference or "") for i in instances}
        chosen = [i for i in instances if answers[i.id] is not None]
        report = score_answers(chosen, calendar, {i.id: [answers[i.id]] for i in chosen})
        assert report.alternate is not None
        differ = sum(report.disagreements.values())
        print(
            f"{label}: {len(chosen)} answers; all correct: strict {report.all_correct.mean:.3f}, "
            f"reference {report.alternate.all_correct.mean:.3f}; verdicts differ on {differ}"
        )
        for reason, count in report.disagreements.items():
            print(f"    {count:4d}  {reason}")
    print("\nwhat the reference's high-priority check wants instead of our earliest slot:")
    for reason, count in _priority_reasons(priority).most_common():
        print(f"    {count:4d}  {reason}")
    answers = [(i, f"Final Answer: {i.reference}") for i in instances]
    print()
    for name, grade in (
        ("strict", lambda i, a: grade_answer(calendar, i, a)),
        ("reference", grade_reference),
    ):
        print(f"grading time, {name}: {_per_answer_ms(grade, answers):.2f} ms CPU per answer")


def _priority_reasons(priority: list[Instance]) -> Counter[str]:
    """How the slot the reference's high-priority check wants differs from our earliest."""
    reasons: Counter[str] = Counter()
    for instance in priority:
        ours = instance.reference or NO_SOLUTION
        wanted = reference_priority_slot(instance)
        if ours == NO_SOLUTION or wanted == ours:
            continue
        if wanted is None:
            reasons["no slot at all (its filters judge the buffer-widened slot)"] += 1
        elif wanted.split()[0] != ours.split()[0]:
            reasons["a later day (it keeps the last day that has a slot)"] += 1
        elif wanted < ours:
            reasons["an earlier start on its 5-minute grid, off the granularity"] += 1
        else:
            reasons["a later start that day (its filters judge the widened slot)"] += 1
    return reasons


def _per_answer_ms(
    grade: Callable[[Instance, str], object], pairs: list[tuple[Instance, str]]
) -> float:
    started = time.process_time()
    for instance, answer in pairs:
        grade(instance, answer)
    return (time.process_time() - started) * 1000 / len(pairs)


if __name__ == "__main__":
    main()
