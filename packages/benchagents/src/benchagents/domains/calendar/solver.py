"""Calendar scheduling semantics (BA-Calendar compatible) and an exact solver.

The data reading follows BA-Calendar's reference metric (`BACalendarMetric` in
microsoft/eureka-ml-insights, metrics/ba_calendar_metrics.py): `metadata.availability` maps
participant -> day -> ["HH:MM-HH:MM", ...], the times that participant is AVAILABLE; a slot is
possible when it lies inside an available interval of every participant.

Semantics, where the reference is silent or inconsistent we state our choice:
- Slots start on the granularity grid (minutes since midnight divisible by `granularity`) and
  last exactly `meeting_duration` minutes; the solver enumerates that grid, so "earliest" means
  earliest grid slot, days in calendar order (Monday first), then start time.
- A participant's touching or overlapping intervals are merged ("09:00-10:00" and
  "10:00-11:00" mean free 09:00-11:00).
- `buffer_time_before_and_after_meeting` = b: every participant must also be available for b
  minutes before and after the meeting (the reference prompt: "a meeting from 9:00-10:00 will
  require availability from 8:45-10:15"). At the edges of someone's availability (e.g. the end
  of their day) a meeting with b > 0 is therefore infeasible when it ends exactly where the
  availability ends. The buffer is about availability only: time-of-day constraints apply to
  the meeting itself.
- `no_meetings_before` = h (an hour as in BA-Calendar, or "HH:MM"): start >= h.
  `no_meetings_after` = h: the meeting ends at or before h (as the reference check does).
- `no_meetings_during_specific_times` = "HH:MM-HH:MM": the meeting must not overlap it
  (touching is fine).
- `high_priority_meeting`: the answer must be the earliest feasible slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from benchagents.instance import Instance

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKEND = frozenset({"Saturday", "Sunday"})
NO_SOLUTION = "No common time slot available"
MINUTES_PER_DAY = 24 * 60

# Optional constraints, in the order checks and prompts list them.
OPTIONAL_CONSTRAINTS = (
    "buffer_time_before_and_after_meeting",
    "no_meetings_on_weekends",
    "no_meetings_before",
    "no_meetings_after",
    "no_meetings_during_specific_times",
    "high_priority_meeting",
)
# Checks every slot answer gets, whatever constraints are active.
BASE_CHECKS = ("format", "within_days", "everyone_available", "granularity", "meeting_duration")

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_clock(text: str) -> int:
    """`H:MM` or `HH:MM` (00:00-23:59) -> minutes since midnight."""
    m = _CLOCK.match(text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"invalid time {text!r} (expected HH:MM, 00:00-23:59)")
    return int(m.group(1)) * 60 + int(m.group(2))


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_range(text: str) -> tuple[int, int]:
    """`HH:MM-HH:MM` -> (start, end) minutes; the end must be after the start."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"invalid time range {text!r} (expected HH:MM-HH:MM)")
    try:
        start, end = (parse_clock(part) for part in text.split("-"))
    except ValueError as e:
        raise ValueError(f"invalid time range {text!r}: {e}") from None
    if end <= start:
        raise ValueError(f"time range {text!r} ends before it starts")
    return start, end


def parse_hour(value: int | str) -> int:
    """A BA-Calendar hour (9 or "9") or a "HH:MM" string -> minutes since midnight."""
    if isinstance(value, bool):
        raise ValueError(f"expected an hour or HH:MM, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value <= 24:
            raise ValueError(f"hour {value} is outside 0-24")
        return value * 60
    return parse_clock(value)


class CalendarParams(BaseModel):
    """The BA-Calendar `params`; sweep values the generator adds are kept as extra keys."""

    model_config = ConfigDict(extra="allow")

    days_of_week: list[str]
    granularity: int

    @field_validator("days_of_week")
    @classmethod
    def _days(cls, days: list[str]) -> list[str]:
        unknown = [d for d in days if d not in DAYS]
        if unknown or not days or len(set(days)) != len(days):
            raise ValueError(f"days_of_week must be distinct names from {DAYS}, got {days}")
        return days

    @field_validator("granularity")
    @classmethod
    def _granularity(cls, g: int) -> int:
        if g <= 0 or MINUTES_PER_DAY % g:
            raise ValueError(f"granularity must be a positive divisor of 1440 minutes, got {g}")
        return g


class CalendarConstraints(BaseModel):
    """The BA-Calendar `constraints`; None/False/0 mean inactive (our instances omit those)."""

    model_config = ConfigDict(extra="forbid")

    meeting_duration: int
    buffer_time_before_and_after_meeting: int | None = None
    no_meetings_on_weekends: bool | None = None
    no_meetings_before: int | str | None = None
    no_meetings_after: int | str | None = None
    no_meetings_during_specific_times: str | None = None
    high_priority_meeting: bool | None = None
    availability: bool | None = None  # BA-Calendar flag: always checked here

    @field_validator("meeting_duration")
    @classmethod
    def _duration(cls, d: int) -> int:
        if d <= 0:
            raise ValueError(f"meeting_duration must be positive, got {d}")
        return d

    @field_validator("buffer_time_before_and_after_meeting")
    @classmethod
    def _buffer(cls, b: int | None) -> int | None:
        if b is not None and b < 0:
            raise ValueError(f"buffer_time_before_and_after_meeting must be >= 0, got {b}")
        return b


class CalendarMetadata(BaseModel):
    """participant -> day -> available intervals ("HH:MM-HH:MM")."""

    model_config = ConfigDict(extra="allow")

    availability: dict[str, dict[str, list[str]]]


def active_constraints(constraints: dict[str, Any]) -> dict[str, Any]:
    """Only the active ones: drops None, False and a zero buffer."""
    return {k: v for k, v in constraints.items() if v is not None and v is not False and v != 0}


def format_range(start: int, end: int) -> str:
    return f"{format_clock(start)}-{format_clock(end)}"


def merge_intervals(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, with overlapping or touching intervals joined."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


@dataclass(frozen=True, order=True)
class Slot:
    """A meeting: weekday index (0 = Monday) and minutes since midnight; ordered by time."""

    day_index: int
    start: int
    end: int

    @property
    def day(self) -> str:
        return DAYS[self.day_index]

    def __str__(self) -> str:
        return f"{self.day} {format_clock(self.start)}-{format_clock(self.end)}"


@dataclass(frozen=True)
class CalendarProblem:
    """A validated calendar instance in minutes; ValueError from `from_instance` says why not."""

    days: tuple[int, ...]
    granularity: int
    availability: dict[str, dict[int, tuple[tuple[int, int], ...]]]
    duration: int
    buffer: int
    no_weekends: bool
    not_before: int | None
    not_after: int | None
    blocked: tuple[int, int] | None
    high_priority: bool

    @classmethod
    def from_instance(cls, instance: Instance) -> CalendarProblem:
        params = CalendarParams.model_validate(instance.params)
        constraints = CalendarConstraints.model_validate(instance.constraints)
        metadata = CalendarMetadata.model_validate(instance.metadata)
        if not metadata.availability:
            raise ValueError("availability names no participant")
        availability: dict[str, dict[int, tuple[tuple[int, int], ...]]] = {}
        for person, schedule in metadata.availability.items():
            availability[person] = {}
            for day, blocks in schedule.items():
                if day not in DAYS:
                    raise ValueError(f"availability of {person}: unknown day {day!r}")
                try:
                    intervals = [parse_range(b) for b in blocks]
                except ValueError as e:
                    raise ValueError(f"availability of {person} on {day}: {e}") from None
                availability[person][DAYS.index(day)] = merge_intervals(intervals)
        c = constraints
        return cls(
            days=tuple(sorted(DAYS.index(d) for d in params.days_of_week)),
            granularity=params.granularity,
            availability=availability,
            duration=c.meeting_duration,
            buffer=c.buffer_time_before_and_after_meeting or 0,
            no_weekends=bool(c.no_meetings_on_weekends),
            not_before=None if c.no_meetings_before is None else parse_hour(c.no_meetings_before),
            not_after=None if c.no_meetings_after is None else parse_hour(c.no_meetings_after),
            blocked=(
                None
                if not c.no_meetings_during_specific_times
                else parse_range(c.no_meetings_during_specific_times)
            ),
            high_priority=bool(c.high_priority_meeting),
        )

    def constraint_names(self) -> list[str]:
        """The active optional constraints, in canonical order."""
        active = {
            "buffer_time_before_and_after_meeting": self.buffer > 0,
            "no_meetings_on_weekends": self.no_weekends,
            "no_meetings_before": self.not_before is not None,
            "no_meetings_after": self.not_after is not None,
            "no_meetings_during_specific_times": self.blocked is not None,
            "high_priority_meeting": self.high_priority,
        }
        return [name for name in OPTIONAL_CONSTRAINTS if active[name]]

    def check_names(self) -> list[str]:
        """Every check an answer to this instance gets, in order."""
        return [*BASE_CHECKS, *self.constraint_names()]

    def unavailable(self, day_index: int, start: int, end: int) -> list[str]:
        """Participants not available for all of [start, end] on that day."""
        return [
            person
            for person, schedule in self.availability.items()
            if not any(a <= start and end <= b for a, b in schedule.get(day_index, ()))
        ]

    def evaluate(self, slot: Slot) -> dict[str, tuple[bool, str]]:
        """check name -> (passed, detail) for every check but "format" and
        "high_priority_meeting" (which needs the solver)."""
        s, e, day = slot.start, slot.end, slot.day
        results: dict[str, tuple[bool, str]] = {}
        allowed = ", ".join(DAYS[d] for d in self.days)
        results["within_days"] = (
            slot.day_index in self.days,
            f"{day} is {'' if slot.day_index in self.days else 'not '}one of {allowed}",
        )
        missing = self.unavailable(slot.day_index, s, e)
        results["everyone_available"] = (
            not missing,
            f"not available: {', '.join(missing)}" if missing else "all participants are free",
        )
        on_grid = s % self.granularity == 0
        results["granularity"] = (
            on_grid,
            f"start {format_clock(s)} is {'on' if on_grid else 'off'} the "
            f"{self.granularity}-minute grid",
        )
        results["meeting_duration"] = (
            e - s == self.duration,
            f"lasts {e - s} minutes, required {self.duration}",
        )
        if self.buffer:
            b = self.buffer
            short = self.unavailable(slot.day_index, s - b, e + b)
            window = format_range(max(s - b, 0), min(e + b, MINUTES_PER_DAY))
            results["buffer_time_before_and_after_meeting"] = (
                not short,
                f"{window} needed; not available: {', '.join(short)}"
                if short
                else f"everyone is free {window}",
            )
        if self.no_weekends:
            results["no_meetings_on_weekends"] = (day not in WEEKEND, f"{day}")
        if self.not_before is not None:
            results["no_meetings_before"] = (
                s >= self.not_before,
                f"starts {format_clock(s)}, earliest allowed {format_clock(self.not_before)}",
            )
        if self.not_after is not None:
            results["no_meetings_after"] = (
                e <= self.not_after,
                f"ends {format_clock(e)}, latest allowed end {format_clock(self.not_after)}",
            )
        if self.blocked is not None:
            a, b = self.blocked
            overlaps = s < b and e > a
            results["no_meetings_during_specific_times"] = (
                not overlaps,
                f"{'overlaps' if overlaps else 'avoids'} {format_range(a, b)}",
            )
        return results

    def feasible_slots(self) -> list[Slot]:
        """All grid slots satisfying every constraint, earliest first (exact enumeration)."""
        slots = []
        for day in self.days:
            for start in range(0, MINUTES_PER_DAY - self.duration + 1, self.granularity):
                slot = Slot(day, start, start + self.duration)
                if all(passed for passed, _ in self.evaluate(slot).values()):
                    slots.append(slot)
        return slots

    def answer(self) -> str:
        """The canonical correct answer: the earliest feasible slot, or NO_SOLUTION."""
        slots = self.feasible_slots()
        return str(slots[0]) if slots else NO_SOLUTION
