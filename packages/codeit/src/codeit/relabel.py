"""Hindsight relabeling: a program that misses its target still solves the task it computed.

CodeIt (arXiv 2402.04858) turns every sampled program into a new task: the target's real
demonstration inputs, the outputs the program actually produced, and the program as its
solution. A wrong program thus still teaches the policy which program makes which outputs.

Decisions:
- A program that fails on any demonstration input (error, timeout) yields no hindsight task:
  it is not a solution of the input distribution it was sampled for, and a task with that
  example silently dropped would show the policy fewer demonstrations than its target has.
- A trivial result (every output equals its input, or every input gives the same output) is
  not relabelled either: such tasks are cheap to produce by accident and would flood the
  buffer with identity and constant programs. A program that solves its target is always
  kept, trivial or not, since it is a real solution.
- Only demonstration examples are used, never a target's test outputs (those are for scoring).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from codeit.data import ArcTask, Example
from codeit.grid import Grid
from codeit.replay import ReplayEntry
from codeit.scoring import Output, demo_score


def is_trivial(inputs: Sequence[Grid], outputs: Sequence[Grid]) -> bool:
    """Identity on every input, or one constant output for several distinct inputs."""
    if all(out == inp for inp, out in zip(inputs, outputs, strict=True)):
        return True
    return len(set(inputs)) > 1 and len(set(outputs)) == 1


def relabel(task: ArcTask, program: str, outputs: Sequence[Output]) -> ArcTask | None:
    """The hindsight task of `program`: `task`'s demonstration inputs with `outputs` (the
    program's outputs on them); None if any output is an error or the result is trivial.
    Its id names the origin and the program (`<task id>/hindsight-<digest>`); it has no test
    examples."""
    if len(outputs) != len(task.train):
        raise ValueError(f"{len(outputs)} outputs for {len(task.train)} demonstrations")
    grids = [out for out in outputs if not isinstance(out, str)]
    if len(grids) < len(outputs):
        return None
    inputs = [e.input for e in task.train]
    if is_trivial(inputs, grids):
        return None
    digest = hashlib.blake2b(program.encode(), digest_size=6).hexdigest()
    examples = tuple(Example(inp, out) for inp, out in zip(inputs, grids, strict=True))
    return ArcTask(f"{task.id}/hindsight-{digest}", examples, ())


def experience(
    task: ArcTask, program: str, outputs: Sequence[Output], *, relabeling: bool = True
) -> ReplayEntry | None:
    """What a sampled program adds to the replay buffer, if anything.

    A program that solves all of `task`'s demonstrations: the task itself ("policy", priority
    1). Otherwise, with `relabeling`, its hindsight task ("relabel") with priority = the
    fraction of `task`'s demonstrations it solves (so near misses are replayed more);
    without `relabeling` (the ablation), nothing.
    """
    score = demo_score(task.train, outputs)
    if score == 1.0:
        return ReplayEntry(task.id, "policy", task.train, program, 1.0)
    if not relabeling:
        return None
    hindsight = relabel(task, program, outputs)
    if hindsight is None:
        return None
    return ReplayEntry(task.id, "relabel", hindsight.train, program, score)
