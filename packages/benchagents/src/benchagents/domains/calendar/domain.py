"""The calendar scheduling domain (BA-Calendar): find a meeting slot that suits everyone.

Instances use BA-Calendar's field names (see `ba_calendar.py` for the row format); the
semantics and the exact solver are in `solver.py`, answer parsing in
`answer.py`. Every instance's reference is the solver's answer (the earliest feasible
slot, or "No common time slot available"), and the checker verifies a no-solution answer with
the solver instead of trusting it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from benchagents.domains.base import Domain, Verdict, sample_plan_params
from benchagents.domains.calendar.answer import MalformedAnswer, parse_answer
from benchagents.domains.calendar.solver import (
    DAYS,
    NO_SOLUTION,
    OPTIONAL_CONSTRAINTS,
    WEEKEND,
    CalendarConstraints,
    CalendarMetadata,
    CalendarParams,
    CalendarProblem,
    Slot,
    active_constraints,
    format_clock,
    format_range,
    merge_intervals,
    parse_hour,
    parse_range,
)
from benchagents.instance import Instance
from benchagents.plan import CheckSpec, ConstraintSpec, EvaluationPlan, Parameter, Plan
from reasonloop.benchmarks import Check

NAMES = (
    "Alice", "Bob", "Carol", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jamal",
    "Keiko", "Liam", "Maya", "Nikolai", "Olivia", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
)  # fmt: skip
WORKDAY = (8 * 60, 18 * 60)  # generated availability lies inside 08:00-18:00
DURATIONS = (15, 30, 45, 60, 90, 120)
BUFFERS = (15, 30)
LUNCH_BREAKS = ("12:00-13:00", "12:30-13:30", "13:00-14:00", "10:00-10:30", "15:00-15:30")
INTRO = "Find a common time slot for a meeting with the participants below."
ANSWER_INSTRUCTIONS = (
    'Answer with one slot as "[day] [start]-[end]" in 24-hour HH:MM time, e.g. '
    f'"Monday 10:30-11:00", or "{NO_SOLUTION}" if no slot satisfies every constraint. '
    'End with a line "Final Answer: <your answer>".'
)

CONSTRAINT_DESCRIPTIONS = {
    "meeting_duration": "the meeting lasts exactly this many minutes",
    "buffer_time_before_and_after_meeting": "everyone must also be free this many minutes "
    "before and after the meeting",
    "no_meetings_on_weekends": "the meeting may not be on Saturday or Sunday",
    "no_meetings_before": "the meeting may not start before this hour",
    "no_meetings_after": "the meeting must end by this hour",
    "no_meetings_during_specific_times": "the meeting may not overlap this time range",
    "high_priority_meeting": "the answer must be the earliest feasible slot",
}


@dataclass(frozen=True)
class _Settings:
    """Validated generation parameters (defaults fill what the plan leaves out)."""

    num_participants: int = 3
    num_days: int = 3
    granularity: int = 30
    num_constraints: int = 2
    unsolvable_fraction: float = 0.2
    days_of_week: tuple[str, ...] | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> _Settings:
        known = {k: params[k] for k in cls.__dataclass_fields__ if k in params}
        try:
            s = cls(
                num_participants=int(known.get("num_participants", cls.num_participants)),
                num_days=int(known.get("num_days", cls.num_days)),
                granularity=int(known.get("granularity", cls.granularity)),
                num_constraints=int(known.get("num_constraints", cls.num_constraints)),
                unsolvable_fraction=float(
                    known.get("unsolvable_fraction", cls.unsolvable_fraction)
                ),
                days_of_week=tuple(known["days_of_week"]) if "days_of_week" in known else None,
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"calendar parameters: {e}") from None
        problems = []
        if not 1 <= s.num_participants <= len(NAMES):
            problems.append(f"num_participants must be 1-{len(NAMES)}")
        if not 1 <= s.num_days <= 7:
            problems.append("num_days must be 1-7")
        if s.granularity <= 0 or 60 % s.granularity:
            problems.append("granularity must divide 60 (e.g. 15, 30, 60)")
        if not 0 <= s.num_constraints <= len(OPTIONAL_CONSTRAINTS):
            problems.append(f"num_constraints must be 0-{len(OPTIONAL_CONSTRAINTS)}")
        if not 0.0 <= s.unsolvable_fraction <= 1.0:
            problems.append("unsolvable_fraction must be in [0, 1]")
        if s.days_of_week is not None and (
            not s.days_of_week or any(d not in DAYS for d in s.days_of_week)
        ):
            problems.append(f"days_of_week must be names from {DAYS}")
        if problems:
            raise ValueError("calendar parameters: " + "; ".join(problems))
        return s


class CalendarDomain(Domain):
    name = "calendar"
    description = (
        "Calendar scheduling (BA-Calendar): given participants' availability and constraints, "
        "answer one meeting slot '[day] HH:MM-HH:MM' or 'No common time slot available'."
    )

    def default_plan(self) -> Plan:
        return Plan(
            domain=self.name,
            description=self.description
            + f" Availability lies within {format_clock(WORKDAY[0])}-{format_clock(WORKDAY[1])}"
            " on the chosen days; more active constraints make an instance more constrained.",
            parameters=[
                Parameter(
                    name="num_participants",
                    description="people who must all attend",
                    kind="int",
                    low=2,
                    high=5,
                ),
                Parameter(
                    name="num_days",
                    description="days of the week to choose from",
                    kind="int",
                    low=1,
                    high=5,
                ),
                Parameter(
                    name="granularity",
                    description="minutes between possible start times",
                    kind="choice",
                    choices=["15", "30", "60"],
                ),
                Parameter(
                    name="num_constraints",
                    description="active optional constraints (the constrainedness)",
                    kind="int",
                    low=0,
                    high=len(OPTIONAL_CONSTRAINTS),
                ),
                Parameter(
                    name="unsolvable_fraction",
                    description="probability that an instance has no feasible slot",
                    kind="float",
                    low=0.2,
                    high=0.2,
                ),
            ],
            constraints=[
                ConstraintSpec(name=name, description=text)
                for name, text in CONSTRAINT_DESCRIPTIONS.items()
            ],
            instance_schema={
                "type": "object",
                "properties": {
                    "params": CalendarParams.model_json_schema(),
                    "constraints": CalendarConstraints.model_json_schema(),
                    "metadata": CalendarMetadata.model_json_schema(),
                },
            },
            verification=[
                CheckSpec(name=n, description=d, kind="code")
                for n, d in (
                    ("schema", "params, constraints and availability parse and are typed"),
                    ("consistency", "the constraints do not contradict each other"),
                    ("reference", "the reference equals the exact solver's answer"),
                    ("prompt", "the prompt names every participant and active constraint"),
                )
            ],
            evaluation=EvaluationPlan(
                answer_format=self.answer_instructions(),
                metrics=["all_correct", "fraction_passed", "per_constraint", "by_constrainedness"],
            ),
        )

    def sample_params(self, plan: Plan, rng: random.Random) -> dict[str, Any]:
        params = sample_plan_params(plan, rng)
        if "granularity" in params:
            params["granularity"] = int(params["granularity"])
        _Settings.from_params(params)  # fail here, naming the bad value, not later
        return params

    def generate(self, params: dict[str, Any], rng: random.Random, instance_id: str) -> Instance:
        s = _Settings.from_params(params)
        want_unsolvable = rng.random() < s.unsolvable_fraction
        for _ in range(100):
            instance = self._attempt(s, params, want_unsolvable, rng, instance_id)
            if instance is not None:
                return instance
        raise RuntimeError(f"could not generate a calendar instance from {params}")

    def _attempt(
        self,
        s: _Settings,
        params: dict[str, Any],
        want_unsolvable: bool,
        rng: random.Random,
        instance_id: str,
    ) -> Instance | None:
        names = rng.sample(NAMES, s.num_participants)
        days = list(s.days_of_week or sorted(rng.sample(DAYS, s.num_days), key=DAYS.index))
        g = s.granularity
        constraints: dict[str, Any] = {
            "meeting_duration": rng.choice([d for d in DURATIONS if d % g == 0])
        }
        for name in sorted(
            rng.sample(OPTIONAL_CONSTRAINTS, s.num_constraints), key=OPTIONAL_CONSTRAINTS.index
        ):
            constraints[name] = _sample_value(name, rng)
        grid = list(range(WORKDAY[0], WORKDAY[1] + 1, g))
        availability = {
            person: {day: _random_blocks(grid, rng) for day in days} for person in names
        }
        instance = Instance(
            id=instance_id,
            prompt="",
            params={**params, "days_of_week": days, "granularity": g},
            constraints=constraints,
            metadata={"availability": availability},
        )
        problem = CalendarProblem.from_instance(instance)
        feasible = problem.feasible_slots()
        if want_unsolvable:
            _carve(availability, feasible, rng)
        elif not feasible:
            slot = _plantable_slot(problem, rng)
            if slot is None:
                return None  # these constraints leave no room: resample everything
            _plant(availability, problem, slot)
        instance = instance.model_copy(update={"metadata": {"availability": availability}})
        answer = CalendarProblem.from_instance(instance).answer()
        if (answer == NO_SOLUTION) != want_unsolvable:
            return None
        return instance.model_copy(update={"prompt": render_prompt(instance), "reference": answer})

    def verify(self, instance: Instance) -> list[Verdict]:
        try:
            problem = CalendarProblem.from_instance(instance)
        except ValueError as e:
            return [Verdict("schema", False, _one_line(e))]
        verdicts = [Verdict("schema", True)]
        issues = _inconsistencies(problem)
        verdicts.append(Verdict("consistency", not issues, "; ".join(issues)))
        expected = problem.answer()
        verdicts.append(
            Verdict(
                "reference",
                instance.reference == expected,
                f"reference {instance.reference!r}, solver {expected!r}",
            )
        )
        missing = _unmentioned(instance, problem)
        verdicts.append(
            Verdict("prompt", not missing, f"prompt does not mention: {', '.join(missing)}")
        )
        return verdicts

    def repair(self, instance: Instance, verdicts: list[Verdict]) -> Instance | None:
        failed = {v.name for v in verdicts if not v.passed}
        if failed & {"schema", "consistency"}:
            return None
        if "reference" in failed:
            answer = CalendarProblem.from_instance(instance).answer()
            instance = instance.model_copy(update={"reference": answer})
        if "prompt" in failed:
            instance = instance.model_copy(update={"prompt": render_prompt(instance)})
        return instance

    def check(self, instance: Instance, answer: str) -> list[Check]:
        problem = CalendarProblem.from_instance(instance)
        names = problem.check_names()
        try:
            slot = parse_answer(answer)
        except MalformedAnswer as e:
            return [Check(n, False, f"malformed answer: {e}") for n in names]
        feasible = problem.feasible_slots()
        if slot is None:
            detail = (
                f"a feasible slot exists: {feasible[0]}"
                if feasible
                else "no feasible slot exists (checked by the solver)"
            )
            return [Check("format", True, NO_SOLUTION)] + [
                Check(n, not feasible, detail) for n in names[1:]
            ]
        results = problem.evaluate(slot)
        checks = [Check("format", True, str(slot))]
        for n in names[1:]:
            if n == "high_priority_meeting":
                earliest = feasible[0] if feasible else None
                checks.append(
                    Check(n, slot == earliest, f"earliest feasible slot: {earliest or NO_SOLUTION}")
                )
            else:
                passed, detail = results[n]
                checks.append(Check(n, passed, detail))
        return checks

    def constrainedness(self, instance: Instance) -> int:
        active = active_constraints(instance.constraints)
        return sum(1 for name in active if name in OPTIONAL_CONSTRAINTS)

    def answer_instructions(self) -> str:
        return ANSWER_INSTRUCTIONS

    def llm_fields(self, instance: Instance) -> dict[str, str]:
        """The opening sentence: an LLM may rephrase it; the data lines stay as they are."""
        first = instance.prompt.split("\n", 1)[0]
        return {"intro": first} if first else {}


def render_prompt(instance: Instance) -> str:
    """The task prompt from the instance's data (also repairs an imported prompt)."""
    params = CalendarParams.model_validate(instance.params)
    c = CalendarConstraints.model_validate(instance.constraints)
    days = sorted(params.days_of_week, key=DAYS.index)
    availability = instance.metadata["availability"]
    lines = [
        INTRO,
        f"Participants: {_join(list(availability))}.",
        f"Possible days: {_join(days)}.",
        f"The meeting lasts {c.meeting_duration} minutes and starts on a "
        f"{params.granularity}-minute grid (start times like "
        f"{format_clock(9 * 60)}, {format_clock(9 * 60 + params.granularity)}).",
        "Availability of each participant (the times they are free; 24-hour clock):",
    ]
    for person, schedule in availability.items():
        parts = [
            f"{day} {', '.join(schedule[day])}" if schedule.get(day) else f"{day} not available"
            for day in days
        ]
        lines.append(f"- {person}: {'; '.join(parts)}")
    rules = _rules(c)
    if rules:
        lines.append("Constraints:")
        lines.extend(f"- {rule}" for rule in rules)
    lines.append(ANSWER_INSTRUCTIONS)
    return "\n".join(lines)


def _rules(c: CalendarConstraints) -> list[str]:
    rules = []
    if c.buffer_time_before_and_after_meeting:
        b = c.buffer_time_before_and_after_meeting
        rules.append(
            f"Buffer time: every participant must also be free for {b} minutes before and "
            f"{b} minutes after the meeting."
        )
    if c.no_meetings_on_weekends:
        rules.append("No meetings on weekends (Saturday or Sunday).")
    if c.no_meetings_before is not None:
        rules.append(f"No meetings before {format_clock(parse_hour(c.no_meetings_before))}.")
    if c.no_meetings_after is not None:
        end = format_clock(parse_hour(c.no_meetings_after))
        rules.append(f"No meetings after {end}: the meeting must end by {end}.")
    if c.no_meetings_during_specific_times:
        rules.append(f"No meetings during {c.no_meetings_during_specific_times}.")
    if c.high_priority_meeting:
        rules.append("This is a high-priority meeting: choose the earliest possible slot.")
    return rules


def _unmentioned(instance: Instance, problem: CalendarProblem) -> list[str]:
    """Participants and active constraints the prompt does not mention (a lenient keyword
    test, so imported BA-Calendar phrasings pass too)."""
    text = instance.prompt.lower()
    missing = [p for p in problem.availability if p.lower() not in text]
    if str(problem.duration) not in text:
        missing.append("meeting_duration")
    keywords = {
        "buffer_time_before_and_after_meeting": ("buffer",),
        "no_meetings_on_weekends": ("weekend",),
        "no_meetings_before": ("before",),
        "no_meetings_after": ("after",),
        "no_meetings_during_specific_times": ("during",),
        "high_priority_meeting": ("priority", "earliest", "as early as"),
    }
    for name in problem.constraint_names():
        if not any(k in text for k in keywords[name]):
            missing.append(name)
    return missing


def _inconsistencies(p: CalendarProblem) -> list[str]:
    issues = []
    if p.duration % p.granularity:
        issues.append(
            f"meeting_duration {p.duration} is not a multiple of granularity {p.granularity}"
        )
    earliest = p.not_before or 0
    latest = p.not_after if p.not_after is not None else 24 * 60
    if p.not_before is not None and p.not_after is not None and earliest >= latest:
        issues.append(
            f"no_meetings_before {format_clock(earliest)} is not before "
            f"no_meetings_after {format_clock(latest)}"
        )
    elif latest - earliest < p.duration:
        issues.append(
            f"a {p.duration}-minute meeting does not fit between "
            f"{format_clock(earliest)} and {format_clock(latest)}"
        )
    return issues


def _sample_value(name: str, rng: random.Random) -> Any:
    if name == "buffer_time_before_and_after_meeting":
        return rng.choice(BUFFERS)
    if name == "no_meetings_before":
        return rng.randint(9, 11)
    if name == "no_meetings_after":
        return rng.randint(14, 17)
    if name == "no_meetings_during_specific_times":
        return rng.choice(LUNCH_BREAKS)
    return True  # weekends, high priority


def _random_blocks(grid: list[int], rng: random.Random) -> list[str]:
    """0-3 separate free intervals on the grid (none on about one day in eight)."""
    if rng.random() < 0.125:
        return []
    count = min(rng.randint(1, 3), len(grid) // 2)
    points = sorted(rng.sample(grid, 2 * count))
    return [format_range(points[i], points[i + 1]) for i in range(0, len(points), 2)]


def _carve(availability: dict, feasible: list[Slot], rng: random.Random) -> None:
    """Make every feasible slot infeasible: one random participant loses that time. Removing
    availability never creates a slot, so the instance ends with none."""
    for slot in feasible:
        person = rng.choice(list(availability))
        blocks = [parse_range(b) for b in availability[person][slot.day]]
        kept = []
        for a, b in blocks:
            kept += [(x, y) for x, y in ((a, min(b, slot.start)), (max(a, slot.end), b)) if x < y]
        availability[person][slot.day] = [format_range(a, b) for a, b in kept]


def _plantable_slot(p: CalendarProblem, rng: random.Random) -> Slot | None:
    """A random grid slot that satisfies every time-of-day rule and fits, with its buffer,
    in the workday: giving everyone that time makes the instance solvable."""
    g = p.granularity
    first = math.ceil((WORKDAY[0] + p.buffer) / g) * g
    candidates = []
    for day in p.days:
        if p.no_weekends and DAYS[day] in WEEKEND:
            continue
        for start in range(first, WORKDAY[1] - p.duration - p.buffer + 1, g):
            slot = Slot(day, start, start + p.duration)
            results = p.evaluate(slot)
            rules = [n for n in p.constraint_names() if n in results and "buffer" not in n]
            if all(results[n][0] for n in rules):
                candidates.append(slot)
    return rng.choice(candidates) if candidates else None


def _plant(availability: dict, p: CalendarProblem, slot: Slot) -> None:
    """Everyone becomes free around `slot` (buffer included, widened to the grid)."""
    g = p.granularity
    start = max(WORKDAY[0], math.floor((slot.start - p.buffer) / g) * g)
    end = min(WORKDAY[1], math.ceil((slot.end + p.buffer) / g) * g)
    for schedule in availability.values():
        blocks = [parse_range(b) for b in schedule[slot.day]] + [(start, end)]
        schedule[slot.day] = [format_range(a, b) for a, b in merge_intervals(blocks)]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
