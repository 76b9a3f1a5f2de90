"""`filled`: slots set out of order come back in order; a slot left unset is named."""

from __future__ import annotations

import pytest

from reasonloop.slots import filled


def test_filled_returns_the_values_in_slot_order() -> None:
    slots: list[str | None] = [None] * 3
    for index, value in ((2, "c"), (0, "a"), (1, "b")):
        slots[index] = value
    assert filled(slots) == ["a", "b", "c"]


def test_falsy_values_count_as_filled() -> None:
    assert filled([0, "", False, []]) == [0, "", False, []]


def test_an_unset_slot_is_named() -> None:
    with pytest.raises(RuntimeError, match="slot 1 of 3 was never filled"):
        filled(["a", None, "c"])
