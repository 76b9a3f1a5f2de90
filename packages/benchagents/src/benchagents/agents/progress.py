"""How agents report progress without knowing who shows it (a rich bar, a log, nothing)."""

from __future__ import annotations

from collections.abc import Callable

Advance = Callable[[int], None]
# (description, total) -> a function to call with how many more items are done
ProgressFactory = Callable[[str, int], Advance]


def no_progress(description: str, total: int) -> Advance:
    return lambda done: None
