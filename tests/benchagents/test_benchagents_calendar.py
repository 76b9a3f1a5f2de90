"""Calendar domain: every constraint passing and failing on hand-made instances with known
answers, the solver (buffers at day edges, granularity, earliest slot), malformed answers, the
generator (100 seeds verify, references pass), verification and repair."""

from __future__ import annotations

import random

import pytest

from benchagents.domains import get_domain
from benchagents.domains.calendar.answer import MalformedAnswer, parse_answer
from benchagents.domains.calendar.domain import render_prompt
from benchagents.domains.calendar.solver import NO_SOLUTION, CalendarProblem, Slot
from benchagents.instance import Instance

DOMAIN = get_domain("calendar")


def make(
    availability: dict[str, dict[str, list[str]]],
    *,
    days: tuple[str, ...] = ("Monday",),
    granularity: int = 30,
    duration: int = 30,
    **constraints: object,
) -> Instance:
    """A hand-made instance whose prompt and reference come from our own code paths."""
    instance = Instance(
        id="t",
        prompt="",
        params={"days_of_week": list(days), "granularity": granularity},
        constraints={"meeting_duration": duration, **constraints},
        metadata={"availability": availability},
    )
    return instance.model_copy(
        update={
            "prompt": render_prompt(instance),
            "reference": CalendarProblem.from_instance(instance).answer(),
        }
    )


def checks(instance: Instance, answer: str) -> dict[str, bool]:
    return {c.name: c.passed for c in DOMAIN.check(instance, answer)}


def failed(instance: Instance, answer: str) -> set[str]:
    return {name for name, passed in checks(instance, answer).items() if not passed}


TWO = {"Alice": {"Monday": ["09:00-12:00"]}, "Bob": {"Monday": ["10:00-11:00"]}}


def test_feasible_answer_passes_every_check() -> None:
    inst = make(TWO)
    assert inst.reference == "Monday 10:00-10:30"
    assert checks(inst, "Monday 10:30-11:00") == {
        "format": True,
        "within_days": True,
        "everyone_available": True,
        "granularity": True,
        "meeting_duration": True,
    }


def test_everyone_available_fails_and_names_who() -> None:
    result = DOMAIN.check(make(TWO), "Monday 11:00-11:30")
    by_name = {c.name: c for c in result}
    assert not by_name["everyone_available"].passed
    assert "Bob" in by_name["everyone_available"].detail
    assert "Alice" not in by_name["everyone_available"].detail
    assert failed(make(TWO), "Monday 11:00-11:30") == {"everyone_available"}


def test_within_days_duration_and_granularity_fail_separately() -> None:
    inst = make(TWO)
    assert failed(inst, "Tuesday 10:00-10:30") == {"within_days", "everyone_available"}
    assert failed(inst, "Monday 10:00-11:00") == {"meeting_duration"}
    assert failed(inst, "Monday 10:15-10:45") == {"granularity"}
    fine = make(TWO, granularity=15)
    assert failed(fine, "Monday 10:15-10:45") == set()


def test_buffer_needs_availability_around_the_meeting() -> None:
    inst = make(TWO, granularity=15, buffer_time_before_and_after_meeting=15)
    assert failed(inst, "Monday 10:00-10:30") == {"buffer_time_before_and_after_meeting"}
    assert failed(inst, "Monday 10:15-10:45") == set()
    assert [str(s) for s in CalendarProblem.from_instance(inst).feasible_slots()] == [
        "Monday 10:15-10:45"
    ]


def test_buffer_at_the_edge_of_the_day() -> None:
    """Availability that ends exactly where the meeting ends leaves no room for the buffer."""
    day = {"Alice": {"Monday": ["09:00-10:00"]}, "Bob": {"Monday": ["09:00-10:00"]}}
    inst = make(day, granularity=15, buffer_time_before_and_after_meeting=15)
    assert failed(inst, "Monday 09:30-10:00") == {"buffer_time_before_and_after_meeting"}
    assert failed(inst, "Monday 09:00-09:30") == {"buffer_time_before_and_after_meeting"}
    assert inst.reference == "Monday 09:15-09:45"
    no_room = make(day, granularity=15, buffer_time_before_and_after_meeting=30)
    assert no_room.reference == NO_SOLUTION
    assert failed(no_room, NO_SOLUTION) == set()
    # Without a buffer the meeting may end exactly when availability ends.
    assert failed(make(day, granularity=15), "Monday 09:30-10:00") == set()


def test_touching_intervals_merge() -> None:
    split = {"Alice": {"Monday": ["09:00-09:30", "09:30-10:00"]}}
    inst = make(split, granularity=15, buffer_time_before_and_after_meeting=15)
    assert failed(inst, "Monday 09:15-09:45") == set()


def test_no_meetings_on_weekends() -> None:
    both = {"Alice": {"Saturday": ["09:00-10:00"], "Monday": ["15:00-16:00"]}}
    inst = make(both, days=("Monday", "Saturday"), no_meetings_on_weekends=True)
    assert failed(inst, "Saturday 09:00-09:30") == {"no_meetings_on_weekends"}
    assert failed(inst, "Monday 15:00-15:30") == set()
    weekend_only = make(
        {"Alice": {"Saturday": ["09:00-10:00"]}},
        days=("Saturday", "Sunday"),
        no_meetings_on_weekends=True,
    )
    assert weekend_only.reference == NO_SOLUTION


@pytest.mark.parametrize("limit", [10, "10", "10:00"])
def test_no_meetings_before(limit: object) -> None:
    inst = make(TWO | {"Bob": {"Monday": ["09:00-11:00"]}}, no_meetings_before=limit)
    assert failed(inst, "Monday 09:30-10:00") == {"no_meetings_before"}
    assert failed(inst, "Monday 10:00-10:30") == set()
    assert inst.reference == "Monday 10:00-10:30"


def test_no_meetings_after_means_ending_by() -> None:
    inst = make({"Alice": {"Monday": ["09:00-12:00"]}}, no_meetings_after=11)
    assert failed(inst, "Monday 10:30-11:00") == set()
    assert failed(inst, "Monday 11:00-11:30") == {"no_meetings_after"}


def test_no_meetings_during_specific_times() -> None:
    inst = make(
        {"Alice": {"Monday": ["11:00-14:00"]}},
        granularity=15,
        no_meetings_during_specific_times="12:00-13:00",
    )
    assert failed(inst, "Monday 11:30-12:00") == set()  # touching is fine
    assert failed(inst, "Monday 13:00-13:30") == set()
    assert failed(inst, "Monday 12:30-13:00") == {"no_meetings_during_specific_times"}
    assert failed(inst, "Monday 11:45-12:15") == {"no_meetings_during_specific_times"}


def test_high_priority_requires_the_earliest_slot() -> None:
    inst = make(
        {"Alice": {"Monday": ["09:00-12:00"]}, "Bob": {"Monday": ["09:00-12:00"]}},
        high_priority_meeting=True,
    )
    assert failed(inst, "Monday 09:00-09:30") == set()
    later = DOMAIN.check(inst, "Monday 10:00-10:30")
    assert [c.name for c in later if not c.passed] == ["high_priority_meeting"]
    assert "Monday 09:00-09:30" in later[-1].detail
    # Days count in calendar order: nothing on Monday makes Tuesday's first slot the earliest.
    two_days = make(
        {"Alice": {"Monday": ["09:00-09:30"], "Tuesday": ["14:00-16:00"]}, "Bob": {
            "Monday": ["10:00-11:00"], "Tuesday": ["15:00-16:00"]}},
        days=("Tuesday", "Monday"),
        high_priority_meeting=True,
    )  # fmt: skip
    assert two_days.reference == "Tuesday 15:00-15:30"
    assert failed(two_days, "Tuesday 15:30-16:00") == {"high_priority_meeting"}


def test_no_solution_answer_is_verified_with_the_solver() -> None:
    apart = {"Alice": {"Monday": ["09:00-10:00"]}, "Bob": {"Monday": ["10:00-11:00"]}}
    inst = make(apart, high_priority_meeting=True)
    assert inst.reference == NO_SOLUTION
    assert failed(inst, NO_SOLUTION) == set()
    assert failed(inst, "Final Answer: no common time slot available") == set()
    # A slot when none exists fails.
    assert "everyone_available" in failed(inst, "Monday 09:30-10:00")
    assert "high_priority_meeting" in failed(inst, "Monday 09:30-10:00")


def test_claiming_no_slot_when_one_exists_fails() -> None:
    result = DOMAIN.check(make(TWO), NO_SOLUTION)
    assert result[0].name == "format" and result[0].passed
    assert all(not c.passed for c in result[1:])
    assert "Monday 10:00-10:30" in result[1].detail


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Monday 10-11", "HH:MM"),
        ("", "empty"),
        ("   ", "empty"),
        ("Funday 10:00-10:30", "unknown day"),
        ("Monday 11:00-10:30", "does not end after"),
        ("Monday 10:30-10:30", "does not end after"),
        ("Monday 25:00-25:30", "invalid time"),
        ("Monday 10:00-10:30 or Monday 10:30-11:00", "2 different slots"),
        ("Monday 10:00-10:30. No common time slot available", "also says"),
        ("I am not sure.", "expected"),
    ],
)
def test_malformed_answers_fail_every_check(answer: str, reason: str) -> None:
    result = DOMAIN.check(make(TWO), answer)
    assert [c.name for c in result][:2] == ["format", "within_days"]
    assert all(not c.passed for c in result)
    assert all(c.detail.startswith("malformed answer:") and reason in c.detail for c in result)


def test_answer_after_final_answer_marker_and_around_text() -> None:
    inst = make(TWO)
    reasoning = "Monday 11:00-11:30 fails for Bob.\n**Final Answer:** `Monday 10:00-10:30`"
    assert failed(inst, reasoning) == set()
    assert failed(inst, "I suggest Monday 10:00-10:30 for everyone.") == set()
    assert failed(inst, "monday, 10:00 - 10:30") == set()
    assert parse_answer("Monday 10:00-10:30\nMonday 10:00-10:30") == Slot(0, 600, 630)
    with pytest.raises(MalformedAnswer):
        parse_answer("Monday 9:00-9:30 Final Answer: nothing")


def test_solver_enumerates_the_granularity_grid() -> None:
    avail = {"Alice": {"Monday": ["09:00-10:30"]}}
    for g, expected in [(15, 5), (30, 3), (60, 2)]:
        slots = CalendarProblem.from_instance(make(avail, granularity=g)).feasible_slots()
        assert len(slots) == expected
        assert slots == sorted(slots)
        assert all(s.start % g == 0 and s.end - s.start == 30 for s in slots)


def test_generated_instances_verify_and_references_pass() -> None:
    plan = DOMAIN.default_plan()
    unsolvable = 0
    buckets = set()
    for seed in range(100):
        rng = random.Random(seed)
        inst = DOMAIN.generate(DOMAIN.sample_params(plan, rng), rng, f"cal-{seed}")
        assert all(v.passed for v in DOMAIN.verify(inst)), (seed, DOMAIN.verify(inst))
        assert all(c.passed for c in DOMAIN.check(inst, f"Final Answer: {inst.reference}"))
        unsolvable += inst.reference == NO_SOLUTION
        buckets.add(DOMAIN.constrainedness(inst))
        assert DOMAIN.constrainedness(inst) == inst.params["num_constraints"]
    assert 8 <= unsolvable <= 35  # target 20%
    assert buckets == set(range(7))


def test_generator_is_deterministic_and_honours_the_unsolvable_fraction() -> None:
    params = {"num_participants": 3, "num_days": 2, "granularity": 30, "num_constraints": 3}
    a = DOMAIN.generate(params | {"unsolvable_fraction": 0.5}, random.Random(7), "x")
    b = DOMAIN.generate(params | {"unsolvable_fraction": 0.5}, random.Random(7), "x")
    assert a == b
    for seed in range(15):
        none = DOMAIN.generate(params | {"unsolvable_fraction": 1.0}, random.Random(seed), "n")
        some = DOMAIN.generate(params | {"unsolvable_fraction": 0.0}, random.Random(seed), "s")
        assert none.reference == NO_SOLUTION
        assert some.reference != NO_SOLUTION
    with pytest.raises(ValueError, match="granularity must divide 60"):
        DOMAIN.generate(params | {"granularity": 7}, random.Random(0), "bad")


def test_generated_prompt_lists_everyone_and_every_constraint() -> None:
    params = {"num_participants": 4, "num_days": 3, "granularity": 15, "num_constraints": 6}
    inst = DOMAIN.generate(params, random.Random(3), "p")
    for person in inst.metadata["availability"]:
        assert person in inst.prompt
    for phrase in ("Buffer time", "weekends", "before", "after", "during", "high-priority"):
        assert phrase in inst.prompt
    assert inst.prompt.rstrip().endswith('"Final Answer: <your answer>".')


def test_verify_catches_and_repair_fixes_or_drops() -> None:
    good = make(TWO)
    wrong = good.model_copy(update={"reference": "Monday 11:00-11:30"})
    verdicts = DOMAIN.verify(wrong)
    assert [v.name for v in verdicts if not v.passed] == ["reference"]
    assert DOMAIN.repair(wrong, verdicts).reference == "Monday 10:00-10:30"

    no_bob = good.model_copy(update={"prompt": good.prompt.replace("Bob", "Robert")})
    verdicts = DOMAIN.verify(no_bob)
    assert [v.name for v in verdicts if not v.passed] == ["prompt"]
    assert all(v.passed for v in DOMAIN.verify(DOMAIN.repair(no_bob, verdicts)))

    contradictory = make(TWO, no_meetings_before=15, no_meetings_after=11)
    verdicts = DOMAIN.verify(contradictory)
    assert not {v.name: v.passed for v in verdicts}["consistency"]
    assert DOMAIN.repair(contradictory, verdicts) is None
    uneven = make(TWO, duration=45, granularity=30)
    assert "not a multiple" in {v.name: v.detail for v in DOMAIN.verify(uneven)}["consistency"]

    broken = good.model_copy(update={"metadata": {"availability": {"Alice": {"Monday": ["9-10"]}}}})
    verdicts = DOMAIN.verify(broken)
    assert verdicts == [verdicts[0]] and verdicts[0].name == "schema" and not verdicts[0].passed
    assert "9-10" in verdicts[0].detail
    assert DOMAIN.repair(broken, verdicts) is None


def test_llm_may_rephrase_the_opening_sentence() -> None:
    inst = make(TWO)
    assert DOMAIN.llm_fields(inst) == {"intro": inst.prompt.splitlines()[0]}
    new = DOMAIN.apply_llm_fields(inst, {"intro": "Please help Alice and Bob meet."})
    assert new.prompt.splitlines()[0] == "Please help Alice and Bob meet."
    assert new.prompt.splitlines()[1:] == inst.prompt.splitlines()[1:]
    assert all(v.passed for v in DOMAIN.verify(new))
    with pytest.raises(ValueError, match="no rewritable field names"):
        DOMAIN.apply_llm_fields(inst, {"names": "x"})


def test_plan_and_domain_registry() -> None:
    plan = DOMAIN.default_plan()
    assert {p.name for p in plan.parameters} >= {"num_participants", "granularity"}
    assert set(plan.instance_schema["properties"]) == {"params", "constraints", "metadata"}
    rng = random.Random(0)
    for _ in range(50):
        params = DOMAIN.sample_params(plan, rng)
        assert 2 <= params["num_participants"] <= 5
        assert params["granularity"] in (15, 30, 60)
    with pytest.raises(ValueError, match=r"known: calendar.*text"):
        get_domain("chess")
