"""Reading a model's calendar answer: one slot, the no-solution sentence, or malformed.

Models add reasoning around the answer, so we read the text after the last "Final Answer:"
marker when there is one (BA-Calendar's extraction does the same), else the whole text. That
text must name exactly one distinct "[day] HH:MM-HH:MM" slot, or none and say "No common time
slot available"; anything else (no slot, two different slots, a slot and the no-solution
sentence, an unknown day, an invalid time, an end not after the start) is malformed, and so is
an answer over `MAX_ANSWER_CHARS`. Reading is linear in the answer's length: no pattern has two
repetitions that can match the same characters (the blanks around the optional comma before a
slot's time could once be split between two of them in every possible way), and only the last
marker is kept.
"""

from __future__ import annotations

import re
from collections import deque

from benchagents.domains.calendar.solver import DAYS, NO_SOLUTION, Slot
from reasonloop.rewards.extraction import answer_too_long, collapse_whitespace

_FINAL = re.compile(r"final\s+answer\s*:", re.IGNORECASE)
_SLOT = re.compile(
    r"\b([A-Za-z]+)(?:\s*,)?\s+(\d{1,2}):(\d{2})\s*[-\u2013\u2014]\s*(\d{1,2}):(\d{2})"
)
_HOURS_ONLY = re.compile(r"\b([A-Za-z]+day)\s+\d{1,2}\s*-\s*\d{1,2}\b", re.IGNORECASE)


class MalformedAnswer(ValueError):
    """The answer cannot be read as a slot or as the no-solution sentence."""


def parse_answer(text: str | None) -> Slot | None:
    """The slot the answer names, or None when it says there is no common slot."""
    if text is None or not text.strip():
        raise MalformedAnswer("empty answer")
    if too_long := answer_too_long(text):
        raise MalformedAnswer(too_long)
    last = deque(_FINAL.finditer(text), maxlen=1)
    body = text[last[0].end() :] if last else text
    body = body.replace("*", "").replace("`", "")
    slots: set[Slot] = set()
    for m in _SLOT.finditer(body):
        word = m.group(1)
        day = next((d for d in DAYS if d.lower() == word.lower()), None)
        if day is None:
            if word.lower().endswith("day"):
                raise MalformedAnswer(f"unknown day {word!r} in {m.group(0)!r}")
            continue  # e.g. "from 10:00-10:30": not a slot, the day must come first
        h1, m1, h2, m2 = (int(g) for g in m.groups()[1:])
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise MalformedAnswer(f"invalid time in {m.group(0)!r}")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            raise MalformedAnswer(f"{m.group(0)!r} does not end after it starts")
        slots.add(Slot(DAYS.index(day), start, end))
    says_none = NO_SOLUTION.lower() in collapse_whitespace(body.lower())
    if len(slots) > 1:
        names = ", ".join(str(s) for s in sorted(slots)[:3]) + (", ..." if len(slots) > 3 else "")
        raise MalformedAnswer(f"answer names {len(slots)} different slots ({names})")
    if slots and says_none:
        raise MalformedAnswer(f"answer gives a slot and also says {NO_SOLUTION!r}")
    if slots:
        return slots.pop()
    if says_none:
        return None
    if hours := _HOURS_ONLY.search(body):
        raise MalformedAnswer(f"times must be HH:MM, got {hours.group(0)!r}")
    raise MalformedAnswer(
        f'expected "[day] HH:MM-HH:MM" or {NO_SOLUTION!r}, got {_excerpt(body)!r}'
    )


def _excerpt(text: str, limit: int = 80) -> str:
    text = collapse_whitespace(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
