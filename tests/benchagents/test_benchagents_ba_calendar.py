"""BA-Calendar rows <-> instances: round trips both ways, tolerant availability parsing,
clear errors on malformed rows, JSONL files and the `datasets` loader on a local copy."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from benchagents.domains import get_domain
from benchagents.domains.calendar.ba_calendar import (
    export_ba_calendar,
    import_ba_calendar,
    load_ba_calendar_hub,
    load_ba_calendar_jsonl,
)
from benchagents.domains.calendar.solver import NO_SOLUTION

AVAILABILITY = {
    "Alice": {"Monday": ["09:00-12:00"], "Tuesday": ["13:00-15:00"]},
    "Bob": {"Monday": ["10:00-11:00"], "Tuesday": ["14:00-17:00"]},
}


def row(**overrides: object) -> dict:
    """A BA-Calendar row in the normal form export writes."""
    base = {
        "id": "ba-1",
        "task_prompt": "Alice and Bob need a 30 minute high priority meeting ...",
        "params": {"days_of_week": ["Monday", "Tuesday"], "granularity": 30},
        "constraints": {
            "meeting_duration": 30,
            "buffer_time_before_and_after_meeting": None,
            "no_meetings_on_weekends": False,
            "no_meetings_before": 10,
            "no_meetings_after": None,
            "no_meetings_during_specific_times": None,
            "high_priority_meeting": True,
        },
        "metadata": {"availability": json.dumps(AVAILABILITY)},
    }
    return base | overrides


def test_rows_to_instances_to_rows() -> None:
    rows = [
        row(),
        row(id="ba-2", constraints=row()["constraints"] | {"high_priority_meeting": False}),
    ]
    instances = import_ba_calendar(copy.deepcopy(rows))
    assert instances[0].constraints == {
        "meeting_duration": 30,
        "no_meetings_before": 10,
        "high_priority_meeting": True,
    }
    assert instances[0].metadata["availability"] == AVAILABILITY
    assert instances[0].reference == "Monday 10:00-10:30"  # solver's answer
    assert export_ba_calendar(instances) == rows


def test_generated_instances_to_rows_to_instances() -> None:
    domain = get_domain("calendar")
    plan = domain.default_plan()
    instances = []
    for seed in range(30):
        rng = random.Random(seed)
        instances.append(domain.generate(domain.sample_params(plan, rng), rng, f"g{seed}"))
    rows = export_ba_calendar(instances)
    for exported in rows:
        # What the reference metric relies on: a JSON-string availability, every key present.
        assert isinstance(json.loads(exported["metadata"]["availability"]), dict)
        assert {"buffer_time_before_and_after_meeting", "no_meetings_before"} <= set(
            exported["constraints"]
        )
        assert exported["params"]["days_of_week"] and exported["params"]["granularity"]
    assert import_ba_calendar(json.loads(json.dumps(rows))) == instances


@pytest.mark.parametrize(
    "availability",
    [
        AVAILABILITY,
        json.dumps(AVAILABILITY),
        str(AVAILABILITY),  # Python repr with single quotes
    ],
)
def test_availability_forms(availability: object) -> None:
    (instance,) = import_ba_calendar([row(metadata={"availability": availability})])
    assert instance.metadata["availability"] == AVAILABILITY


def test_unknown_fields_survive_and_missing_ids_are_numbered() -> None:
    source = row(split="test", difficulty=3)
    del source["id"]
    (instance,) = import_ba_calendar([source])
    assert instance.id == "ba-calendar-0"
    (exported,) = export_ba_calendar([instance])
    assert exported["split"] == "test" and exported["difficulty"] == 3


def test_no_solution_rows_get_the_no_solution_reference() -> None:
    apart = {"Alice": {"Monday": ["09:00-10:00"]}, "Bob": {"Monday": ["10:00-11:00"]}}
    (instance,) = import_ba_calendar([row(metadata={"availability": apart})])
    assert instance.reference == NO_SOLUTION


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"task_prompt": None}, "task_prompt must be a string"),
        ({"params": {"days_of_week": ["Monday"]}}, "granularity"),
        ({"params": {"days_of_week": ["Moonday"], "granularity": 30}}, "days_of_week"),
        ({"metadata": {"availability": "{not json"}}, "availability is not a JSON object"),
        ({"metadata": {"availability": "[" * 100_000}}, "availability is not a JSON object"),
        ({"metadata": {"availability": "{'a':" * 50_000}}, "availability is not a JSON object"),
        ({"metadata": {}}, "metadata has no availability"),
        ({"metadata": {"availability": {"Al": {"Monday": ["10:00-09:00"]}}}}, "ends before"),
        ({"constraints": {"meeting_duration": 30, "teleport": True}}, "teleport"),
        ({"constraints": {"meeting_duration": -5}}, "meeting_duration must be positive"),
        ({"constraints": "none"}, "constraints must be an object"),
    ],
)
def test_malformed_rows_raise_value_error(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"BA-Calendar row 1: .*{message}"):
        import_ba_calendar([row(), row(**bad)])


def test_missing_fields_are_named() -> None:
    with pytest.raises(ValueError, match=r"row 0: missing field.*params, constraints"):
        import_ba_calendar([{"task_prompt": "x", "metadata": {}}])


def test_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "ba.jsonl"
    path.write_text(json.dumps(row()) + "\n\n" + json.dumps(row(id="ba-2")) + "\n")
    assert [i.id for i in load_ba_calendar_jsonl(path)] == ["ba-1", "ba-2"]
    path.write_text(json.dumps(row()) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"ba\.jsonl:2: invalid JSON"):
        load_ba_calendar_jsonl(path)
    with pytest.raises(ValueError, match="no BA-Calendar file"):
        load_ba_calendar_jsonl(tmp_path / "missing.jsonl")


def test_datasets_loader_on_a_local_copy(tmp_path: Path) -> None:
    """The hub path uses `datasets.load_dataset`, which also reads a local folder of JSONL."""
    pytest.importorskip("datasets")
    folder = tmp_path / "ba-calendar"
    folder.mkdir()
    rows = [row(), row(id="ba-2", constraints=row()["constraints"] | {"no_meetings_before": None})]
    (folder / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    instances = load_ba_calendar_hub(name=str(folder))
    assert [i.id for i in instances] == ["ba-1", "ba-2"]
    assert "no_meetings_before" not in instances[1].constraints
    with pytest.raises(ValueError, match="has no split 'validation'"):
        load_ba_calendar_hub(split="validation", name=str(folder))
