"""Every seed program solves every train and test pair of its ARC-AGI-1 training task."""

from __future__ import annotations

import pytest

from codeit.data import ArcTask, load_tasks
from codeit.interpreter import run_program
from codeit.seeds import SEED_PROGRAMS


@pytest.fixture(scope="module")
def tasks() -> dict[str, ArcTask]:
    return {task.id: task for task in load_tasks("arc1-train")}


def test_enough_seeds_for_known_tasks(tasks: dict[str, ArcTask]) -> None:
    assert len(SEED_PROGRAMS) >= 60
    assert set(SEED_PROGRAMS) <= set(tasks)


@pytest.mark.parametrize("task_id", sorted(SEED_PROGRAMS))
def test_seed_solves_its_task(task_id: str, tasks: dict[str, ArcTask]) -> None:
    task = tasks[task_id]
    for k, example in enumerate(task.train + task.test):
        assert run_program(SEED_PROGRAMS[task_id], example.input) == example.output, (
            f"{task_id}: pair {k} ({'train' if k < len(task.train) else 'test'})"
        )
