"""Plan and Instance: YAML round trip, atomic save, clear errors, parameter sampling."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from benchagents.instance import Instance
from benchagents.plan import CheckSpec, ConstraintSpec, EvaluationPlan, Parameter, Plan


def sample_plan() -> Plan:
    return Plan(
        domain="calendar",
        description="meetings: “quoted” unicode survives",
        parameters=[
            Parameter(name="n", description="people", kind="int", low=2, high=5),
            Parameter(name="g", description="grid", kind="choice", choices=["15", "30"]),
            Parameter(name="p", description="share", kind="float", low=0.1, high=0.3),
            Parameter(name="w", description="weekends", kind="bool"),
        ],
        constraints=[ConstraintSpec(name="no_meetings_before", description="start after")],
        instance_schema={"type": "object", "properties": {"params": {"type": "object"}}},
        verification=[CheckSpec(name="schema", description="fields parse", kind="code")],
        evaluation=EvaluationPlan(answer_format="[day] HH:MM-HH:MM", metrics=["all_correct"]),
        feedback=["more participants", "fewer weekends"],
    )


def test_yaml_round_trip_and_atomic_save(tmp_path: Path) -> None:
    plan = sample_plan()
    assert Plan.from_yaml(plan.to_yaml()) == plan
    path = tmp_path / "run" / "plan.yaml"
    plan.save(path)
    assert Plan.load(path) == plan
    assert [p.name for p in tmp_path.joinpath("run").iterdir()] == ["plan.yaml"]
    assert plan.to_yaml().index("domain") < plan.to_yaml().index("parameters")  # keeps order


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("domain: [unclosed", "not valid YAML"),
        ("- a list", "must be a YAML mapping"),
        ("domain: x\ndescription: y\nparameters: []\nconstraints: []\n", "instance_schema"),
    ],
)
def test_bad_yaml_raises_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Plan.from_yaml(text)


def test_extra_fields_are_rejected() -> None:
    data = sample_plan().model_dump() | {"surprise": 1}
    with pytest.raises(ValidationError, match="surprise"):
        Plan.model_validate(data)
    with pytest.raises(ValidationError, match="answer"):
        Instance(id="1", prompt="p", params={}, constraints={}, answer="x")
    assert Instance(id="1", prompt="p", params={}, constraints={}).metadata == {}


def test_parameters_sample_inside_their_ranges() -> None:
    rng = random.Random(0)
    plan = sample_plan()
    seen = {p.name: {p.sample(rng) for _ in range(200)} for p in plan.parameters}
    assert seen["n"] == {2, 3, 4, 5}
    assert seen["g"] == {"15", "30"}
    assert all(0.1 <= v <= 0.3 for v in seen["p"])
    assert seen["w"] == {True, False}
    assert plan.parameter("n").high == 5
    with pytest.raises(KeyError, match="has: n, g, p, w"):
        plan.parameter("zzz")


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        (Parameter(name="a", description="", kind="int"), "needs low <= high"),
        (Parameter(name="b", description="", kind="int", low=3, high=2), "needs low <= high"),
        (Parameter(name="c", description="", kind="int", low=2.2, high=2.8), "no integer"),
        (Parameter(name="d", description="", kind="choice"), "without choices"),
    ],
)
def test_unsampleable_parameters_say_why(parameter: Parameter, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parameter.sample(random.Random(0))
