"""Paper-style scoring on hand-made cases: ranking, top-3 rule, cumulative solutions."""

from __future__ import annotations

import json

import pytest

from codeit.data import ArcTask, Example
from codeit.scoring import (
    CumulativeScore,
    demo_score,
    program_length,
    solves_tests,
)

A, B, C = ((1, 0),), ((0, 1),), ((2, 2),)
TASK = ArcTask(
    "t1",
    train=(Example(A, B), Example(B, A), Example(C, C)),
    test=(Example(A, B), Example(C, C)),
)
ONE = "O = vmirror(I)\n"  # 1 statement
TWO = "x1 = vmirror(I)\nO = identity(x1)\n"  # 2 statements
TWO_LONGER = "x1 = vmirror(I)\nO = identity(x1)\n\n\n"  # 2 statements, longer text
THREE = "x1 = hmirror(I)\nx2 = vmirror(x1)\nO = hmirror(x2)\n"


def test_demo_score_counts_exact_outputs_and_errors_as_wrong() -> None:
    assert demo_score(TASK.train, [B, A, C]) == 1.0
    assert demo_score(TASK.train, [B, B, C]) == pytest.approx(2 / 3)
    assert demo_score(TASK.train, ["ProgramRuntimeError: line 1: boom", A, "timeout"]) == 1 / 3
    with pytest.raises(ValueError, match="2 outputs for 3 examples"):
        demo_score(TASK.train, [B, A])


def test_solves_tests_needs_every_test_output() -> None:
    assert solves_tests(TASK, [B, C])
    assert not solves_tests(TASK, [B, A])
    assert not solves_tests(TASK, ["error", C])
    assert not solves_tests(ArcTask("no-tests", TASK.train, ()), [])


def test_program_length_counts_statements_then_characters() -> None:
    assert program_length(ONE) == (1, len(ONE))
    assert program_length(TWO)[0] == 2
    assert program_length(THREE)[0] == 3
    assert program_length("not a program\nat all\n") == (2, 21)  # unparsable: lines


def test_rank_by_demo_score_then_shorter() -> None:
    score = CumulativeScore(["t1"])
    for program, demos in [(THREE, 1.0), (TWO_LONGER, 0.5), (ONE, 0.5), (TWO, 0.5), (ONE, 0.0)]:
        score.add("t1", program, demos, test_correct=False)
    # Equal score and statement count: the shorter text first; TWO_LONGER is fourth, dropped.
    assert [(c.program, c.demo_score) for c in score.top("t1")] == [
        (THREE, 1.0),
        (ONE, 0.5),
        (TWO, 0.5),
    ]


def test_only_the_top_three_count() -> None:
    score = CumulativeScore(["t1"])
    for program in (ONE, TWO, THREE):
        score.add("t1", program, 2 / 3, test_correct=False)
    four = "x1 = hmirror(I)\nx2 = vmirror(x1)\nx3 = hmirror(x2)\nO = vmirror(x3)\n"
    score.add("t1", four, 2 / 3, test_correct=True)  # ranked fourth: does not count
    assert not score.solved("t1")
    score.add("t1", four, 1.0, test_correct=True)  # now first
    assert score.solved("t1") and score.top("t1")[0].program == four


def test_cumulative_score_keeps_the_best_three_across_iterations() -> None:
    score = CumulativeScore(["t1", "t2"])
    # Iteration 1: a correct program with a mediocre demo score on t1.
    score.add("t1", THREE, 0.5, test_correct=True)
    score.add("t1", ONE, 0.0, test_correct=False)
    assert score.solved_ids == ["t1"] and score.fraction == 0.5
    # Iteration 2: three better-ranked wrong programs push it out of the top three.
    score.add("t1", "O = hmirror(I)\n", 1.0, test_correct=False)
    score.add("t1", TWO, 0.5, test_correct=False)
    assert score.solved_ids == ["t1"]  # THREE is still 3rd (ties: TWO is shorter, so 2nd)
    assert [c.program for c in score.top("t1")] == ["O = hmirror(I)\n", TWO, THREE]
    score.add("t1", "O = dmirror(I)\n", 1.0, test_correct=False)
    assert score.solved_ids == [] and score.fraction == 0.0
    assert len(score.top("t1")) == 3
    # Iteration 3: t2 solved by a top program; re-offering a program changes nothing.
    score.add("t2", ONE, 1.0, test_correct=True)
    score.add("t2", ONE, 1.0, test_correct=True)
    assert score.solved_ids == ["t2"] and len(score.top("t2")) == 1


def test_a_program_solving_no_demonstration_is_never_a_candidate() -> None:
    score = CumulativeScore(["t"])
    score.add("t", ONE, 0.0, test_correct=True)  # right on the test by luck, wrong on demos
    assert score.top("t") == [] and score.solved_ids == []
    score.add("t", TWO, 0.25, test_correct=True)
    assert [c.program for c in score.top("t")] == [TWO] and score.solved_ids == ["t"]


def test_cumulative_score_round_trips_through_json() -> None:
    score = CumulativeScore(["a", "b", "c"])
    score.add("a", ONE, 1.0, test_correct=True)
    score.add("b", TWO, 0.25, test_correct=False)
    restored = CumulativeScore.from_dict(json.loads(json.dumps(score.to_dict())))
    assert restored.to_dict() == score.to_dict()
    assert restored.solved_ids == ["a"] and restored.fraction == pytest.approx(1 / 3)
    assert restored.task_ids == ["a", "b", "c"]


def test_cumulative_score_rejects_unknown_tasks() -> None:
    with pytest.raises(KeyError, match="not a target"):
        CumulativeScore(["a"]).add("zzz", ONE, 1.0, test_correct=True)
    with pytest.raises(ValueError, match="at least one task"):
        CumulativeScore([])
