"""Results gathered out of order into slots sized up front, handed back once all are set.

A batch runner that finishes items in any order (worker pools, Ray actors, batched model
calls) writes each result into `slots[index]`, the list starting as `[None] * n`. `filled`
returns that list typed as the results it holds: a slot still None is a bug of the runner,
raised with its index rather than passed on as a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def filled(slots: Sequence[T | None]) -> list[T]:
    """The slots' values in order; a RuntimeError names the first slot still None."""
    values = [value for value in slots if value is not None]
    if len(values) != len(slots):
        missing = next(i for i, value in enumerate(slots) if value is None)
        raise RuntimeError(f"slot {missing} of {len(slots)} was never filled")
    return values
