"""BA-Calendar's published metric, reproduced exactly: its answer extraction and its checks.

`benchagents.domains.calendar.domain` is our strict checker. This module is the *reference mode*: it
grades the way microsoft/eureka-ml-insights does (`BA_Calendar_ExtractAnswer` in
`eureka_ml_insights/data_utils/ba_calendar_utils.py`, then `BACalendarMetric` in
`eureka_ml_insights/metrics/ba_calendar_metrics.py`, as of commit 2ff37bd of 2025-10-29), so
our figures can be compared with published ones. It reads the instance as the BA-Calendar row
`export_ba_calendar` writes. Our reading of that code, in our words:

Extraction. Markdown bold ("**") and every newline are deleted (lines are joined with no
space). The answer is the last match of "Final Answer:", optional whitespace, one word, ONE
space and "DD:DD-DD:DD" (two-digit hours; case-sensitive marker). Without such a match, a text
containing "no common time slot available" (any case) becomes that sentence; anything else
becomes "".

Metric. `format` passes only for "<Weekday> H:MM-H:MM" (hours 0-23, minutes 00-59). Every
other check fails on an answer that is not so formatted, and "No common time slot available"
never is, so a correct no-solution answer scores 0. On a formatted answer:
- availability / buffer: each participant has ONE listed block holding the meeting (the
  meeting widened by the buffer); touching blocks are not joined; a participant who lists
  nothing that day fails it.
- meeting_duration: end - start equals the duration (the granularity is never checked).
- no_meetings_on_weekends: the weekday is parsed with `strptime(day, "%A")`, which yields
  1900-01-01 (a Monday) whatever the name, so this check always passes.
- time_restrictions (before/after together): start >= the hour, end <= the hour.
- specific_times: no overlap with the blocked range.
- priority: recomputes the "earliest" slot on a 5-minute grid whatever the granularity: per
  day of `params.days_of_week`, the slots (widened by the buffer, rounded up to whole 5-minute
  steps) inside a block of each participant who lists that day (others are ignored), dropping
  slots that start before the not-before hour, end at or after the not-after hour, fall on a
  weekend or overlap the blocked range, all measured on the widened slot. The loop does not
  stop at the first day with a slot: the answer must equal the earliest slot of the LAST such
  day, narrowed back by the buffer.
A check of an inactive constraint is None (left out). `all_correct` = no check (format
included) is 0; `fraction_passed` = the mean of the checks present, format included.
Constrainedness (how the published reports group instances): 1 - common allowed slots / the
union of everyone's slots of the bare duration, over the days, on the same 5-minute grid, then
floored to tenths with floats as published (0.6 becomes 0.5).

Where the reference itself raises (an hour it cannot parse, an availability string that is not
JSON once quotes are swapped, a missing key) the published pipeline would stop; we grade such
an answer 0 with one check, "reference_error", that says why.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from benchagents.domains.calendar.answer import MalformedAnswer, parse_answer
from benchagents.domains.calendar.ba_calendar import export_ba_calendar
from benchagents.domains.calendar.solver import NO_SOLUTION
from benchagents.instance import Instance
from reasonloop.benchmarks import Check, GradeResult

_EXTRACT_MARKER = "Final Answer:"
_EXTRACT = re.compile(r"Final Answer:\s*(\w+ \d{2}:\d{2}-\d{2}:\d{2})")
_FORMAT = re.compile(
    r"^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) "
    r"([0-9]|[01]\d|2[0-3]):[0-5]\d-([0-9]|[01]\d|2[0-3]):[0-5]\d$"
)
_STEP = 5  # the reference's slot grid, whatever the instance's granularity
Slots = set[tuple[int, int]]
CHECK_NAMES = (
    "format_programmatic",
    "availability_programmatic_check",
    "meeting_duration_programmatic_check",
    "buffer_time_programmatic_check",
    "no_weekends_programmatic_check",
    "time_restrictions_programmatic_check",
    "specific_times_programmatic_check",
    "priority_programmatic_check",
)


class ReferenceMetricError(ValueError):
    """The reference metric would raise on this instance or answer."""


def extract_answer(response: str | None) -> str:
    """What the reference extractor makes of a raw model response."""
    if response is None:
        return ""
    text = response.replace("**", "").replace("\n", "")
    matches = _EXTRACT.findall(text)
    if matches:
        return matches[-1]
    if NO_SOLUTION.lower() in text.lower():
        return NO_SOLUTION
    return ""


def is_formatted(solution: str) -> bool:
    return bool(_FORMAT.match(solution))


def grade_reference(instance: Instance, response: str | None) -> GradeResult:
    """The reference's grade of a raw response: score = fraction_passed, passed = all_correct;
    its checks under the reference's names (inactive ones left out)."""
    extracted = extract_answer(response)
    try:
        row = export_ba_calendar([instance])[0]
        results = reference_checks(row, extracted)
    except ReferenceMetricError as error:
        return GradeResult(instance.id, 0.0, False, (Check("reference_error", False, str(error)),))
    present = {name: value for name, value in results.items() if value is not None}
    checks = tuple(
        Check(name, bool(value), f"extracted {extracted!r}") for name, value in present.items()
    )
    passed = sum(present.values())
    return GradeResult(instance.id, passed / len(present), passed == len(present), checks)


def disagreement_reason(
    instance: Instance, response: str, strict: GradeResult, reference: GradeResult
) -> str | None:
    """Why the two modes give `response` different verdicts (all correct or not); None when
    they agree. The first difference along the way decides: reference error, extraction (the
    two read different answers), the no-solution sentence, then the checks only one fails."""
    if strict.passed == reference.passed:
        return None
    if reference.checks[0].name == "reference_error":
        return "the reference metric raises"
    try:
        slot = parse_answer(response)
    except MalformedAnswer:
        return "strict finds the answer malformed"
    ours = NO_SOLUTION if slot is None else str(slot)
    theirs = extract_answer(response)
    if theirs == "":
        if _EXTRACT_MARKER not in response.replace("**", ""):
            return "reference extracts nothing: no 'Final Answer:'"
        return "reference extracts nothing: not its pattern (e.g. an unpadded hour)"
    if theirs != ours:
        return "reference extracts another answer"
    if slot is None:
        return "no-solution answer (never credited by the reference)"
    side, grade = ("reference", reference) if strict.passed else ("strict", strict)
    failed = sorted(
        c.name.removesuffix("_programmatic_check") for c in grade.checks if not c.passed
    )
    return f"only {side} fails: {'+'.join(failed)}"


def reference_constrainedness(instance: Instance) -> float:
    """The published constrainedness bucket of an instance (0.0, 0.1, ... 1.0; the share of
    slots the constraints rule out, on the reference's 5-minute grid); -1.0 where the
    published code would raise."""
    try:
        return _Row(export_ba_calendar([instance])[0]).constrainedness()
    except (KeyError, TypeError, ValueError, AttributeError):
        return -1.0


def reference_priority_slot(instance: Instance) -> str | None:
    """The answer the published high-priority check wants ("Day HH:MM-HH:MM"; None when it
    wants none, or where it would raise), to compare with our earliest feasible slot."""
    try:
        return _Row(export_ba_calendar([instance])[0])._priority_answer()
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def reference_checks(row: Mapping[str, Any], solution: str) -> dict[str, int | None]:
    """The reference's per-check results (1, 0, or None when inactive) for an extracted answer
    on a BA-Calendar row; ReferenceMetricError where the reference would raise."""
    try:
        return _Row(row).checks(solution.strip('"').strip("`").strip("\n"))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ReferenceMetricError(f"the reference metric fails here: {_describe(error)}") from None


class _Row:
    """One row, read the way the reference reads it (lazily, like the reference)."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.constraints: Mapping[str, Any] = row["constraints"]
        self.params: Mapping[str, Any] = row["params"]
        self.metadata: Mapping[str, Any] = row["metadata"]

    def availability(self) -> dict[str, dict[str, list[str]]]:
        value = json.loads(self.metadata["availability"].replace("'", '"'))
        if not isinstance(value, dict):
            raise ValueError("availability is not an object")
        return value

    def checks(self, solution: str) -> dict[str, int | None]:
        c = self.constraints
        formatted = is_formatted(solution)
        day, start, end = _slot(solution) if formatted else ("", 0, 0)

        results: dict[str, int | None] = {"format_programmatic": int(formatted)}
        if not c.get("availability", True):
            results["availability_programmatic_check"] = None
        else:
            results["availability_programmatic_check"] = formatted and self._held(day, start, end)
        if not c.get("meeting_duration", True):
            results["meeting_duration_programmatic_check"] = None
        else:
            results["meeting_duration_programmatic_check"] = formatted and int(
                end - start == c["meeting_duration"]
            )
        if not c.get("buffer_time_before_and_after_meeting", True):
            results["buffer_time_programmatic_check"] = None
        else:
            buffer = c["buffer_time_before_and_after_meeting"]
            results["buffer_time_programmatic_check"] = formatted and self._held(
                day, start - buffer, end + buffer
            )
        # strptime(day, "%A") alone gives 1900-01-01, a Monday: never a weekend.
        results["no_weekends_programmatic_check"] = (
            None if not c.get("no_meetings_on_weekends", True) else int(formatted)
        )
        before, after = c.get("no_meetings_before", True), c.get("no_meetings_after", True)
        if not before and not after:
            results["time_restrictions_programmatic_check"] = None
        else:
            results["time_restrictions_programmatic_check"] = formatted and self._hours(start, end)
        blocked = c.get("no_meetings_during_specific_times", True)
        if not blocked:
            results["specific_times_programmatic_check"] = None
        else:
            results["specific_times_programmatic_check"] = formatted and int(
                not _overlaps(start, end, _range(blocked))
            )
        if not c.get("high_priority_meeting", False):
            results["priority_programmatic_check"] = None
        else:
            results["priority_programmatic_check"] = formatted and int(
                solution == self._priority_answer()
            )
        return {name: None if v is None else int(v) for name, v in results.items()}

    def _held(self, day: str, start: int, end: int) -> int:
        """1 when every participant has one block on `day` containing [start, end]."""
        for schedule in self.availability().values():
            if day not in schedule:
                return 0
            if not any(a <= start and end <= b for a, b in map(_range, schedule[day])):
                return 0
        return 1

    def _hours(self, start: int, end: int) -> int:
        before = self.constraints.get("no_meetings_before")
        after = self.constraints.get("no_meetings_after")
        if before and start < _hour(before):
            return 0
        if after and end > _hour(after):
            return 0
        return 1

    def _priority_answer(self) -> str | None:
        """The slot the reference's priority check wants (None: it wants none)."""
        buffer = self.constraints["buffer_time_before_and_after_meeting"] or 0
        wanted = None
        for day, common, _ in self._days(buffer):
            if common:
                start, end = min(common)
                wanted = f"{day} {_clock(start + buffer)}-{_clock(end - buffer)}"
        return wanted

    def constrainedness(self) -> float:
        """The reference's bucket of 1 - feasible slots / all slots, floored to tenths."""
        buffer = self.constraints["buffer_time_before_and_after_meeting"] or 0
        feasible = total = 0
        for _, common, union in self._days(buffer):
            feasible += len(common or ())
            total += len(union or ())
        ratio = 1 - feasible / total if total > 0 else 1
        return round(math.floor(ratio / 0.1) * 0.1, 4)  # floats as published: 0.3 -> 0.2

    def _days(self, buffer: int) -> Iterator[tuple[str, Slots | None, Slots | None]]:
        """Per day of `days_of_week`: the slots (widened by the buffer) allowed for every
        participant who lists the day, and the union of everyone's unwidened slots; None
        when nobody lists the day."""
        duration = self.constraints["meeting_duration"]
        for day in self.params["days_of_week"]:
            common: Slots | None = None
            union: Slots | None = None
            for schedule in self.availability().values():
                if day not in schedule:
                    continue
                blocks = [_range(block) for block in schedule[day]]
                mine = {
                    slot
                    for a, b in blocks
                    for slot in _slots(a, b, duration + 2 * buffer)
                    if self._allowed(slot, day)
                }
                free = {slot for a, b in blocks for slot in _slots(a, b, duration)}
                common = mine if common is None else common & mine
                union = free if union is None else union | free
            yield day, common, union

    def _allowed(self, slot: tuple[int, int], day: str) -> bool:
        """The reference's slot filter (on the widened slot; "after" excludes ending on it)."""
        c = self.constraints
        start, end = slot
        if c["no_meetings_before"] and start < _hour(c["no_meetings_before"]):
            return False
        if c["no_meetings_after"] and end >= _hour(c["no_meetings_after"]):
            return False
        if c["no_meetings_on_weekends"] and day in ("Saturday", "Sunday"):
            return False
        blocked = c["no_meetings_during_specific_times"]
        return not (blocked and _overlaps(start, end, _range(blocked)))


def _slots(start: int, end: int, minutes: int) -> Iterator[tuple[int, int]]:
    """The reference's slots of a block: 5-minute steps from its start, each slot `minutes`
    rounded up to whole steps (at least one), ending inside the block."""
    length = max(1, math.ceil(minutes / _STEP)) * _STEP
    for first in range(start, end - length + 1, _STEP):
        yield first, first + length


def _slot(solution: str) -> tuple[str, int, int]:
    day, times = solution.split()
    return (day, *_range(times))


def _range(text: str) -> tuple[int, int]:
    """`HH:MM-HH:MM` as the reference parses it: one "-", each side `strptime("%H:%M")`."""
    first, second = text.split("-")
    return _minutes(first), _minutes(second)


def _minutes(text: str) -> int:
    moment = datetime.strptime(text, "%H:%M")
    return moment.hour * 60 + moment.minute


def _hour(value: Any) -> int:
    """The reference's int(value) then strptime(f"{hour}:00")."""
    return _minutes(f"{int(value)}:00")


def _overlaps(start: int, end: int, blocked: tuple[int, int]) -> bool:
    return start < blocked[1] and end > blocked[0]


def _clock(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing key {error.args[0]!r}"
    return " ".join(f"{type(error).__name__}: {error}".split())[:200]
