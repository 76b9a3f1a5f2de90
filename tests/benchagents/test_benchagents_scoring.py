"""Scores of hand-made answers against metric values worked out by hand."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from benchagents.domains import Domain, Verdict
from benchagents.instance import Instance
from benchagents.plan import ConstraintSpec, Plan
from benchagents.scoring import grade_answer, normalize_answer, score_answers
from reasonloop.benchmarks import Check
from reasonloop.metrics import mean_ci


class LettersDomain(Domain):
    """A domain small enough to grade in one's head: constraint "x" holds if x is in the answer."""

    name = "letters"
    description = "answers must contain given letters"

    def default_plan(self) -> Plan:
        return Plan(
            domain="letters",
            description=self.description,
            parameters=[],
            constraints=[ConstraintSpec(name=c, description=f"contains {c}") for c in "abc"],
            instance_schema={},
        )

    def sample_params(self, plan: Plan, rng: random.Random) -> dict[str, Any]:
        return {}

    def generate(self, params: dict[str, Any], rng: random.Random, instance_id: str) -> Instance:
        return letters(instance_id, "a")

    def verify(self, instance: Instance) -> list[Verdict]:
        return [Verdict("has constraints", bool(instance.constraints))]

    def repair(self, instance: Instance, verdicts: list[Verdict]) -> Instance | None:
        return None

    def check(self, instance: Instance, answer: str) -> list[Check]:
        return [
            Check(c, c in answer, f"{c!r} {'in' if c in answer else 'not in'} answer")
            for c in instance.constraints
        ]

    def constrainedness(self, instance: Instance) -> int:
        return len(instance.constraints)

    def answer_instructions(self) -> str:
        return "Write some letters."


def letters(instance_id: str, required: str) -> Instance:
    return Instance(
        id=instance_id,
        prompt=f"Write a word with the letters {required}.",
        params={},
        constraints={c: True for c in required},
    )


INSTANCES = [letters("i1", "ab"), letters("i2", "a"), letters("i3", "b"), letters("i4", "abc")]
ANSWERS = {
    "i1": ["ab", "a", "ab"],  # all correct: T F T; fraction: 1, 1/2, 1; majority "ab" (right)
    "i2": ["x", "x", "a"],  # F F T; 0, 0, 1; majority "x" (wrong)
    "i3": ["b", " b ", "b\n"],  # T T T; majority: one answer once whitespace is normalized
    "i4": ["c", "ab", "z"],  # F F F; 1/3, 2/3, 0; a three-way tie: the first answer, "c"
}


def test_metrics_match_the_hand_computed_values() -> None:
    report = score_answers(INSTANCES, LettersDomain(), ANSWERS)
    assert report.samples == 3
    # all correct per instance: 2/3, 1/3, 1, 0; the CI is across instances
    assert report.all_correct == mean_ci([2 / 3, 1 / 3, 1, 0])
    assert report.all_correct.mean == pytest.approx(0.5)
    assert report.all_correct.low < 0.5 < report.all_correct.high
    # fraction passed per instance: 5/6, 1/3, 1, 1/3
    assert report.fraction_passed.mean == pytest.approx((5 / 6 + 1 / 3 + 1 + 1 / 3) / 4)
    assert report.best_of_n.mean == pytest.approx(3 / 4)  # i4 never all correct
    assert report.worst_of_n.mean == pytest.approx(1 / 4)  # only i3 always
    assert report.majority_vote.mean == pytest.approx(2 / 4)  # i1 and i3
    # a: i1 3/3, i2 1/3, i4 1/3; b: i1 2/3, i3 3/3, i4 1/3; c: i4 1/3
    rates = {name: (r.passed, r.total) for name, r in report.per_constraint.items()}
    assert rates == {"a": (5, 9), "b": (6, 9), "c": (1, 3)}
    assert list(report.by_constrainedness) == [1, 2, 3]
    one, two, three = report.by_constrainedness.values()
    assert one.instances == 2 and one.all_correct.mean == pytest.approx((1 / 3 + 1) / 2)
    assert two.instances == 1 and two.fraction_passed.mean == pytest.approx(5 / 6)
    assert three.all_correct.mean == 0 and three.fraction_passed.mean == pytest.approx(1 / 3)
    by_id = {s.id: s for s in report.instances}
    assert by_id["i3"].majority_votes == 3
    assert (by_id["i4"].majority_sample, by_id["i4"].majority_votes) == (0, 1)
    assert (by_id["i2"].majority_sample, by_id["i2"].majority) == (0, False)


def test_grade_is_the_fraction_of_checks_passed() -> None:
    grade = grade_answer(LettersDomain(), letters("i", "abc"), "cab? no: ca")
    assert (grade.score, grade.passed) == (1.0, True)
    grade = grade_answer(LettersDomain(), letters("i", "abc"), "a c")
    assert grade.score == pytest.approx(2 / 3) and not grade.passed
    assert [c.name for c in grade.checks if not c.passed] == ["b"]
    with pytest.raises(ValueError, match="gave no checks for instance 'empty'"):
        grade_answer(LettersDomain(), letters("empty", ""), "abc")
    assert normalize_answer("  Monday\n 9:00 -\t10:00 ") == "Monday 9:00 - 10:00"


def test_report_json_png_and_table(tmp_path: Path) -> None:
    report = score_answers(INSTANCES, LettersDomain(), ANSWERS, name="letters-v1")
    json_path, png_path = report.write(tmp_path / "evaluation")
    data = json.loads(json_path.read_text())
    assert data["per_constraint"]["a"] == {"passed": 5, "total": 9, "rate": pytest.approx(5 / 9)}
    assert data["by_constrainedness"]["2"]["instances"] == 1
    assert data["majority_vote"]["mean"] == pytest.approx(0.5)
    assert data["instances"][0]["all_correct"] == [True, False, True]
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_path.stat().st_size > 10_000  # two panels drawn, not an empty canvas
    console = Console(record=True, width=120)
    console.print(report.table())
    text = console.export_text()
    assert "letters-v1 (4 instances, N=3)" in text
    assert "best of 3" in text and "constraint b" in text and "6/9" in text


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({**ANSWERS, "i9": ["a"]}, "answers for unknown instances: i9"),
        ({k: v for k, v in ANSWERS.items() if k != "i2"}, "no answers for instances: i2"),
        ({**ANSWERS, "i1": ["ab"]}, r"same number of samples, got \[1, 3\]"),
    ],
)
def test_bad_answers_are_refused(answers: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_answers(INSTANCES, LettersDomain(), answers)
