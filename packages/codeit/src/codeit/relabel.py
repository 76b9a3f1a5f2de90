"""Hindsight relabeling: a program that misses its target still solves the task it computed.

CodeIt (arXiv 2402.04858) turns every sampled program into a new task: the target's real
demonstration inputs, the outputs the program actually produced, and the program as its
solution. A wrong program thus still teaches the policy which program makes which outputs.

Decisions, following the official implementation (its hindsight step keeps every demonstration
whose output is a valid grid and filters nothing else):
- By default (`partial`) a program that fails on some demonstration inputs (error, timeout)
  still yields a hindsight task of the demonstrations it did map: a subset of the examples is
  a task too. None only when no output is a grid. `partial=False` is the stricter earlier
  rule: every output must be a grid.
- Optionally (`skip_trivial`, off by default, not in the official code) a trivial result is
  not relabelled: every output equals its input, or every input gives the same output. A
  program that solves its target is always kept, trivial or not, since it is a real solution.
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


def relabel(
    task: ArcTask,
    program: str,
    outputs: Sequence[Output],
    *,
    partial: bool = True,
    skip_trivial: bool = False,
) -> ArcTask | None:
    """The hindsight task of `program`: those of `task`'s demonstration inputs on which it
    produced a grid (all of them unless `partial`), with those grids as outputs; None if
    there are none (or, with `skip_trivial`, the result is trivial). Its id names the origin
    and the program (`<task id>/hindsight-<digest>`); it has no test examples."""
    if len(outputs) != len(task.train):
        raise ValueError(f"{len(outputs)} outputs for {len(task.train)} demonstrations")
    pairs = [
        (e.input, out)
        for e, out in zip(task.train, outputs, strict=True)
        if not isinstance(out, str)
    ]
    if not pairs or (len(pairs) < len(outputs) and not partial):
        return None
    if skip_trivial and is_trivial([i for i, _ in pairs], [o for _, o in pairs]):
        return None
    digest = hashlib.blake2b(program.encode(), digest_size=6).hexdigest()
    examples = tuple(Example(inp, out) for inp, out in pairs)
    return ArcTask(f"{task.id}/hindsight-{digest}", examples, ())


def experience(
    task: ArcTask,
    program: str,
    outputs: Sequence[Output],
    *,
    relabeling: bool = True,
    partial: bool = True,
    skip_trivial: bool = False,
) -> ReplayEntry | None:
    """What a sampled program adds to the replay buffer, if anything.

    A program that solves all of `task`'s demonstrations: the task itself ("policy", priority
    1). Otherwise, with `relabeling`, its hindsight task ("relabel", see `relabel` for
    `partial` and `skip_trivial`) with priority = the fraction of `task`'s demonstrations it
    solves (so near misses are replayed more); without `relabeling` (the ablation), nothing.
    """
    score = demo_score(task.train, outputs)
    if score == 1.0:
        return ReplayEntry(task.id, "policy", task.train, program, 1.0)
    if not relabeling:
        return None
    hindsight = relabel(task, program, outputs, partial=partial, skip_trivial=skip_trivial)
    if hindsight is None:
        return None
    return ReplayEntry(task.id, "relabel", hindsight.train, program, score)
