"""BA-Calendar rows <-> our calendar instances, both ways.

A BA-Calendar row (Hugging Face `microsoft/ba-calendar`, the data of BenchAgents' calendar
benchmark) is {"id"?, "task_prompt", "params": {"days_of_week", "granularity", ...},
"constraints": {every constraint name: value or null/false}, "metadata": {"availability":
JSON string of participant -> day -> ["HH:MM-HH:MM", ...], ...}}. The reference metric reads
the availability with `json.loads(s.replace("'", '"'))` and indexes every constraint key, so
`export_ba_calendar` writes the availability as a JSON string and every known constraint key
(inactive ones null, or false for the yes/no ones).

Import keeps only active constraints (as `Instance.constraints` requires), keeps unknown
top-level fields in `metadata["ba_calendar_extra"]` so export restores them, and sets the
reference to our solver's answer (BA-Calendar rows carry none). So
`import(export(instances)) == instances` for solver-referenced instances, and
`export(import(rows)) == rows` for rows already in this normal form (an inactive constraint
comes back as null, or false for the yes/no ones; a row without an id gets
"ba-calendar-<index>").
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from benchagents.domains.calendar.solver import (
    CalendarConstraints,
    CalendarProblem,
    active_constraints,
)
from benchagents.instance import Instance
from reasonloop.jsonl import read_jsonl

HUB_DATASET = "microsoft/ba-calendar"
_ROW_FIELDS = ("id", "task_prompt", "params", "constraints", "metadata")
_EXTRA = "ba_calendar_extra"
_FLAGS = ("no_meetings_on_weekends", "high_priority_meeting")  # exported as false when inactive


def import_ba_calendar(rows: Iterable[object]) -> list[Instance]:
    """Instances from BA-Calendar rows (objects read from a file or the hub, checked here);
    ValueError naming the row and what is wrong."""
    instances = []
    for index, row in enumerate(rows):
        try:
            instances.append(_import_row(row, index))
        except ValueError as e:
            raise ValueError(f"BA-Calendar row {index}: {' '.join(str(e).split())}") from None
    return instances


def export_ba_calendar(instances: Iterable[Instance]) -> list[dict[str, Any]]:
    """BA-Calendar rows that the reference metric (and `import_ba_calendar`) can read."""
    rows = []
    for instance in instances:
        metadata = dict(instance.metadata)
        extra = metadata.pop(_EXTRA, {})
        metadata["availability"] = json.dumps(metadata["availability"])
        constraints = {
            name: instance.constraints.get(name, False if name in _FLAGS else None)
            for name in CalendarConstraints.model_fields
            if name != "availability" or name in instance.constraints
        }
        rows.append(
            {
                "id": instance.id,
                "task_prompt": instance.prompt,
                "params": dict(instance.params),
                "constraints": constraints,
                "metadata": metadata,
                **extra,
            }
        )
    return rows


def load_ba_calendar_jsonl(path: str | Path) -> list[Instance]:
    """Instances from a local BA-Calendar JSONL file (one row a line)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no BA-Calendar file at {path}")
    instances = []
    for number, row in read_jsonl(path):
        try:
            instances.append(_import_row(row, number - 1))
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {' '.join(str(e).split())}") from None
    return instances


def load_ba_calendar_hub(split: str | None = None, name: str = HUB_DATASET) -> list[Instance]:
    """Instances from the Hugging Face hub, one split or all of them in order (needs the
    `hub` extra, datasets, and the network)."""
    try:
        import datasets
    except ImportError:
        raise ValueError(
            "loading BA-Calendar from the hub needs the 'datasets' package: "
            "pip install 'reasonloop-benchagents[hub]'"
        ) from None
    splits = datasets.load_dataset(name)
    if split is not None and split not in splits:
        raise ValueError(f"{name} has no split {split!r} (has: {', '.join(map(str, splits))})")
    chosen = [split] if split is not None else list(splits)
    return import_ba_calendar(row for s in chosen for row in splits[s])


def _import_row(row: object, index: int) -> Instance:
    if not isinstance(row, Mapping):
        raise ValueError(f"expected an object, got {type(row).__name__}")
    missing = [f for f in ("task_prompt", "params", "constraints", "metadata") if f not in row]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    for field in ("params", "constraints", "metadata"):
        if not isinstance(row[field], Mapping):
            raise ValueError(f"{field} must be an object, got {type(row[field]).__name__}")
    if not isinstance(row["task_prompt"], str):
        raise ValueError("task_prompt must be a string")
    metadata = dict(row["metadata"])
    if "availability" not in metadata:
        raise ValueError("metadata has no availability")
    metadata["availability"] = _parse_availability(metadata["availability"])
    extra = {k: v for k, v in row.items() if k not in _ROW_FIELDS}
    if extra:
        metadata[_EXTRA] = extra
    constraints = active_constraints(dict(row["constraints"]))
    unknown = sorted(set(constraints) - set(CalendarConstraints.model_fields))
    if unknown:
        raise ValueError(f"unknown active constraint(s) {', '.join(unknown)}")
    instance = Instance(
        id=str(row.get("id", f"ba-calendar-{index}")),
        prompt=row["task_prompt"],
        params=dict(row["params"]),
        constraints=constraints,
        metadata=metadata,
    )
    problem = CalendarProblem.from_instance(instance)
    return instance.model_copy(update={"reference": problem.answer()})


def _parse_availability(value: Any) -> dict[str, Any]:
    """A mapping, a JSON string, or a Python-literal string (BA-Calendar has single quotes;
    `ast.literal_eval` reads literals only, it runs no code)."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise ValueError(f"availability must be an object or a JSON string, not {value!r:.60}")
    for parse in (json.loads, lambda s: json.loads(s.replace("'", '"')), ast.literal_eval):
        try:
            parsed = parse(value)
        except (ValueError, SyntaxError, RecursionError, MemoryError):  # the last two: nesting
            continue
        if isinstance(parsed, dict):
            return parsed
    raise ValueError(f"availability is not a JSON object: {value[:60]!r}")
