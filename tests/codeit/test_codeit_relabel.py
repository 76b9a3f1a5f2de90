"""Hindsight relabeling on hand-made cases, with outputs from the real interpreter."""

from __future__ import annotations

import pytest

from codeit.data import ArcTask, Example
from codeit.execution import run_job
from codeit.relabel import experience, is_trivial, relabel

G1 = ((1, 0, 0), (2, 0, 0))
G2 = ((0, 3), (0, 4), (5, 0))
G3 = ((6, 6), (7, 0))
# The task: mirror each grid left-right.
TASK = ArcTask(
    "mirror",
    train=(
        Example(G1, ((0, 0, 1), (0, 0, 2))),
        Example(G2, ((3, 0), (4, 0), (0, 5))),
        Example(G3, ((6, 6), (0, 7))),
    ),
    test=(Example(((9, 0),), ((0, 9),)),),
)
INPUTS = tuple(e.input for e in TASK.train)


def outputs_of(program: str) -> tuple:
    return run_job((program, INPUTS, 1000))


def test_partially_correct_program_gives_its_own_task() -> None:
    # Upside down instead of left-right: wrong on every demonstration.
    program = "O = hmirror(I)\n"
    outputs = outputs_of(program)
    hindsight = relabel(TASK, program, outputs)
    assert hindsight is not None
    assert hindsight.id.startswith("mirror/hindsight-")
    assert [e.input for e in hindsight.train] == list(INPUTS)  # the real inputs
    assert [e.output for e in hindsight.train] == [
        ((2, 0, 0), (1, 0, 0)),
        ((5, 0), (0, 4), (0, 3)),
        ((7, 0), (6, 6)),
    ]  # the program's actual outputs
    assert hindsight.test == ()  # target test outputs never leak into training data
    entry = experience(TASK, program, outputs)
    assert entry is not None and entry.source == "relabel" and entry.priority == 0.0
    assert entry.examples == hindsight.train and entry.program == program
    assert entry.task_id == "mirror"


def test_priority_is_the_fraction_of_demonstrations_solved() -> None:
    # Mirror, then recolour 7 to 0: right on G1 and G2, wrong on G3.
    program = "x1 = vmirror(I)\nO = replace(x1, ORANGE, BLACK)\n"
    outputs = outputs_of(program)
    assert outputs[:2] == (TASK.train[0].output, TASK.train[1].output)
    entry = experience(TASK, program, outputs)
    assert entry is not None and entry.source == "relabel"
    assert entry.priority == pytest.approx(2 / 3)
    assert entry.examples[2].output == ((6, 6), (0, 0))
    assert experience(TASK, program, outputs, relabeling=False) is None  # the ablation


def test_fully_correct_program_is_a_policy_solution() -> None:
    program = "O = vmirror(I)\n"
    outputs = outputs_of(program)
    entry = experience(TASK, program, outputs)
    assert entry is not None
    assert (entry.source, entry.priority, entry.examples) == ("policy", 1.0, TASK.train)
    assert experience(TASK, program, outputs, relabeling=False) == entry
    # Its hindsight task is the task's own demonstrations.
    hindsight = relabel(TASK, program, outputs)
    assert hindsight is not None and hindsight.train == TASK.train


def test_partial_relabeling_keeps_the_demonstrations_with_a_valid_output() -> None:
    # Only G1 is 3 columns wide: splitting the others into three parts fails.
    program = "x1 = hsplit(I, 3)\nO = first(x1)\n"
    outputs = outputs_of(program)
    assert outputs[0] == ((1,), (2,))
    assert isinstance(outputs[1], str) and "ProgramRuntimeError" in outputs[1]
    assert isinstance(outputs[2], str)
    # The official rule (the default): the valid subset is a task of its own.
    hindsight = relabel(TASK, program, outputs)
    assert hindsight is not None and hindsight.train == (Example(G1, ((1,), (2,))),)
    entry = experience(TASK, program, outputs)
    assert entry is not None and entry.source == "relabel" and entry.examples == hindsight.train
    # The stricter rule: an error on any input drops the whole hindsight task.
    assert relabel(TASK, program, outputs, partial=False) is None
    assert experience(TASK, program, outputs, partial=False) is None
    # No valid output at all: no task either way.
    failing = "x1 = hsplit(I, 7)\nO = first(x1)\n"
    assert relabel(TASK, failing, outputs_of(failing)) is None


def test_trivial_results_are_kept_unless_filtered() -> None:
    identity = "O = identity(I)\n"
    kept = relabel(TASK, identity, outputs_of(identity))
    assert kept is not None and [e.output for e in kept.train] == list(INPUTS)  # official
    assert relabel(TASK, identity, outputs_of(identity), skip_trivial=True) is None
    constant = "O = canvas(RED, UNITY)\n"
    assert outputs_of(constant) == (((2,),),) * 3
    assert relabel(TASK, constant, outputs_of(constant), skip_trivial=True) is None
    assert experience(TASK, constant, outputs_of(constant), skip_trivial=True) is None
    # A task whose real outputs are constant is still solved by a constant program.
    constant_task = ArcTask("c", tuple(Example(i, ((2,),)) for i in INPUTS), ())
    entry = experience(constant_task, constant, outputs_of(constant), skip_trivial=True)
    assert entry is not None and entry.source == "policy"


def test_is_trivial() -> None:
    assert is_trivial([G1, G2], [G1, G2])
    assert is_trivial([G1, G2], [G3, G3])
    assert not is_trivial([G1], [G3])  # one example: a constant cannot be told apart
    assert not is_trivial([G1, G2], [G1, G3])


def test_output_count_must_match_the_demonstrations() -> None:
    with pytest.raises(ValueError, match="2 outputs for 3 demonstrations"):
        relabel(TASK, "O = vmirror(I)\n", [G1, G2])
