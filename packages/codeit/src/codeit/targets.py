"""Which tasks a run targets, and which seed programs may start its buffer.

Targets are a subset of the evaluation set plus a held-out split of the *seeded* training
tasks (tasks our DSL is known to express); the seeds of held-out tasks never enter the
mutation buffer, so solving them means generalizing. Choices depend only on the config's seed,
so a resumed run and its never-learning baseline see the same tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from codeit.config import DataSection
from codeit.data import ArcTask, load_tasks
from codeit.seeds import SEED_PROGRAMS
from reasonloop.hashing import stable_digest


@dataclass(frozen=True)
class TaskSplit:
    targets: tuple[ArcTask, ...]  # what the policy searches for
    training: tuple[ArcTask, ...]  # whose inputs mutation may use (held-out tasks excluded)
    seeds: Mapping[str, str]  # seed programs that start the buffer (held-out seeds excluded)
    heldout_ids: frozenset[str]


def fits(task: ArcTask, side: int) -> bool:
    """Whether every grid of `task` is at most `side` x `side` (keeps CPU prompts short)."""
    grids = [g for e in (*task.train, *task.test) for g in (e.input, e.output)]
    return all(len(g) <= side and len(g[0]) <= side for g in grids)


def _order(tasks: Sequence[ArcTask], seed: int) -> list[ArcTask]:
    # by digest, as when the README's 3-seed figures were measured: the same targets per seed
    return sorted(tasks, key=lambda task: stable_digest(seed, task.id))


def split_tasks(data: DataSection, seed: int) -> TaskSplit:
    """Load the training and evaluation sets and pick this run's targets."""
    training = load_tasks(data.train)
    seeded = [t for t in training if t.id in SEED_PROGRAMS and fits(t, data.max_grid_size)]
    heldout = _order(seeded, seed)[: data.heldout_tasks]
    heldout_ids = frozenset(t.id for t in heldout)
    evaluation: list[ArcTask] = []
    if data.eval_tasks:
        candidates = [t for t in load_tasks(data.eval) if fits(t, data.max_grid_size)]
        evaluation = _order(candidates, seed)
        if data.eval_tasks > 0:
            evaluation = evaluation[: data.eval_tasks]
    if not heldout and not evaluation:
        raise ValueError("no target tasks: raise data.heldout_tasks or data.eval_tasks")
    return TaskSplit(
        targets=(*heldout, *evaluation),
        training=tuple(t for t in training if t.id not in heldout_ids),
        seeds={k: v for k, v in SEED_PROGRAMS.items() if k not in heldout_ids},
        heldout_ids=heldout_ids,
    )
