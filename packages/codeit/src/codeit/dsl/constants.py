"""Named constants programs may use as arguments: colours, small integers, booleans and
points (directions, offsets, shapes)."""

from __future__ import annotations

from codeit.dsl.types import BOOL, COLOR, INT, POINT, Type

_COLOR_NAMES = (
    "BLACK",
    "BLUE",
    "RED",
    "GREEN",
    "YELLOW",
    "GRAY",
    "MAGENTA",
    "ORANGE",
    "AZURE",
    "MAROON",
)
_NUMBER_NAMES = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")

CONSTANTS: dict[str, tuple[object, Type]] = {
    **{name: (value, COLOR) for value, name in enumerate(_COLOR_NAMES)},
    # 0-9 are valid colours too, so they fit Color slots as well as Int ones
    **{name: (value, COLOR) for value, name in enumerate(_NUMBER_NAMES)},
    "TEN": (10, INT),
    "NEG_ONE": (-1, INT),
    "NEG_TWO": (-2, INT),
    "TRUE": (True, BOOL),
    "FALSE": (False, BOOL),
    "ORIGIN": ((0, 0), POINT),
    "UNITY": ((1, 1), POINT),
    "NEG_UNITY": ((-1, -1), POINT),
    "UP": ((-1, 0), POINT),
    "DOWN": ((1, 0), POINT),
    "LEFT": ((0, -1), POINT),
    "RIGHT": ((0, 1), POINT),
    "UP_RIGHT": ((-1, 1), POINT),
    "DOWN_LEFT": ((1, -1), POINT),
    "TWO_BY_TWO": ((2, 2), POINT),
    "THREE_BY_THREE": ((3, 3), POINT),
}
