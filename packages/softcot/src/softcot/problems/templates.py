"""The word-problem templates of the built-in `arith` and `ood` families, by difficulty level.

RL only learns from problems the base model sometimes solves, so the built-in families come in
difficulty levels, from a single small addition up to three-step problems (see `LEVELS`);
a run picks the levels that suit its model. `arith` is plain word-problem arithmetic; `ood`
asks for the same skills in different clothes (units, clocks, money, comparisons), to see
whether what RL taught carries over. This module is data: `generator` draws from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from types import MappingProxyType

LEVELS: Mapping[int, str] = MappingProxyType(
    {
        0: "one addition, numbers <= 10",
        1: "one addition or subtraction, numbers <= 20",
        2: "one multiplication (<= 10 x 10) or two additions/subtractions, numbers <= 20",
        3: "two steps, one of them a multiplication, numbers <= 50",
        4: "three steps mixing +, - and x, numbers <= 100",
    }
)
FAMILIES = ("arith", "ood")

# Numbers a level draws when a template does not fix the range itself.
LEVEL_RANGES = {0: (2, 10), 1: (2, 20), 2: (2, 20), 3: (2, 50), 4: (2, 100)}
FACTOR = (2, 10)  # the range of a multiplier

NAMES = ("Tom", "Mia", "Sam", "Ana", "Ben", "Lily", "Max", "Zoe", "Omar", "Nina", "Leo", "Emma")
ITEMS = ("apples", "pencils", "marbles", "stickers", "cookies", "books", "shells", "stamps")


@dataclass(frozen=True)
class Template:
    """A word problem with named numbers, and the expression that answers it.

    Both are `str.format` templates over the numbers ({a}, {b}, ...); the text may also use
    {name}, {friend} (another name) and {item} (a plural noun).
    """

    id: str
    expression: str  # the numbers combined with + - * % and integer constants
    text: str
    ranges: Mapping[str, tuple[int, int]]  # numbers not listed use the level's range
    numbers: tuple[str, ...]  # the names of the numbers, in the order they are drawn


def _t(id: str, expression: str, text: str, **ranges: tuple[int, int]) -> Template:
    numbers = sorted({field for _, field, _, _ in Formatter().parse(expression) if field})
    return Template(id, expression, text, ranges, tuple(numbers))


# --- the arith family -------------------------------------------------------------------------

_ADD = (
    _t(
        "add-gets",
        "{a} + {b}",
        "{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?",
    ),
    _t(
        "add-finds",
        "{a} + {b}",
        "{name} finds {a} {item} in the morning and {b} {item} in the afternoon. How many "
        "{item} does {name} find in all?",
    ),
    _t(
        "add-basket",
        "{a} + {b}",
        "There are {a} {item} in a basket. {name} puts in {b} more. How many {item} are in the "
        "basket?",
    ),
    _t(
        "add-together",
        "{a} + {b}",
        "{name} has {a} {item} and {friend} has {b} {item}. How many {item} do they have together?",
    ),
    _t(
        "add-buys",
        "{a} + {b}",
        "{name} buys {a} {item} on Monday and {b} {item} on Tuesday. How many {item} does "
        "{name} buy in all?",
    ),
    _t(
        "add-bus",
        "{a} + {b}",
        "A bus has {a} people on it. At the next stop {b} more people get on. How many people "
        "are on the bus now?",
    ),
)
_SUB = (
    _t(
        "sub-gives",
        "{a} - {b}",
        "{name} has {a} {item} and gives {b} to {friend}. How many {item} does {name} have left?",
    ),
    _t(
        "sub-takes",
        "{a} - {b}",
        "There are {a} {item} on the table. {name} takes {b} of them. How many {item} are still"
        " on the table?",
    ),
    _t(
        "sub-more",
        "{a} - {b}",
        "{name} has {a} {item} and {friend} has {b}. How many more {item} does {name} have than"
        " {friend}?",
    ),
    _t(
        "sub-need",
        "{a} - {b}",
        "{name} wants {a} {item} and already has {b}. How many more {item} does {name} need?",
    ),
    _t(
        "sub-bus",
        "{a} - {b}",
        "A bus has {a} people on it. At the next stop {b} people get off. How many people are "
        "still on the bus?",
    ),
)
_MUL = (
    _t(
        "mul-boxes",
        "{a} * {b}",
        "A box holds {a} {item}. How many {item} are in {b} boxes?",
        a=FACTOR,
        b=FACTOR,
    ),
    _t(
        "mul-rows",
        "{a} * {b}",
        "{name} puts {item} in {a} rows with {b} in each row. How many {item} are there?",
        a=FACTOR,
        b=FACTOR,
    ),
    _t(
        "mul-pages",
        "{a} * {b}",
        "{name} reads {a} pages every day. How many pages does {name} read in {b} days?",
        a=FACTOR,
        b=FACTOR,
    ),
    _t(
        "mul-bags",
        "{a} * {b}",
        "{name} has {a} bags with {b} {item} in each bag. How many {item} does {name} have?",
        a=FACTOR,
        b=FACTOR,
    ),
)
_TWO_STEP = (
    _t(
        "add-add",
        "{a} + {b} + {c}",
        "{name} has {a} {item}, gets {b} more from {friend} and then buys {c} more. How many "
        "{item} does {name} have now?",
    ),
    _t(
        "add-sub",
        "{a} + {b} - {c}",
        "{name} has {a} {item}. {name} gets {b} more and then gives {c} to {friend}. How many "
        "{item} does {name} have now?",
    ),
    _t(
        "sub-sub",
        "{a} - {b} - {c}",
        "There are {a} {item} in a jar. {name} takes {b} and {friend} takes {c}. How many "
        "{item} are left in the jar?",
    ),
    _t(
        "sub-add-bus",
        "{a} - {b} + {c}",
        "A bus has {a} people on it. At a stop {b} people get off and {c} people get on. How "
        "many people are on the bus now?",
    ),
)
_TWO_STEP_MUL = (
    _t(
        "mul-add",
        "{a} * {b} + {c}",
        "{name} has {a} boxes with {b} {item} in each box and {c} more {item} outside the "
        "boxes. How many {item} does {name} have?",
        a=FACTOR,
        b=FACTOR,
    ),
    _t(
        "mul-sub",
        "{a} * {b} - {c}",
        "{name} buys {a} packs of {item} with {b} in each pack and gives {c} to {friend}. How "
        "many {item} does {name} have left?",
        a=FACTOR,
        b=FACTOR,
    ),
    _t(
        "add-mul",
        "({a} + {b}) * {c}",
        "Each of {c} tables has {a} red {item} and {b} blue {item}. How many {item} are on the "
        "tables in all?",
        a=(2, 10),
        b=(2, 10),
        c=FACTOR,
    ),
    _t(
        "mul-spend",
        "{a} * {b} - {c}",
        "{name} earns {a} coins a day for {b} days and then spends {c} coins. How many coins "
        "does {name} have left?",
        a=FACTOR,
        b=FACTOR,
    ),
    _t(
        "times-as-many",
        "{a} + {a} * {b}",
        "{name} has {a} {item}. {friend} has {b} times as many. How many {item} do they have "
        "together?",
        a=(2, 20),
        b=FACTOR,
    ),
)
_THREE_STEP = (
    _t(
        "mul-add-sub",
        "{a} * {b} + {c} - {d}",
        "{name} has {a} bags with {b} {item} in each bag. {name} buys {c} more and then gives "
        "{d} to {friend}. How many {item} does {name} have now?",
        a=FACTOR,
        b=FACTOR,
    ),
    _t(
        "library",
        "{a} - {b} + {c} + {d}",
        "A library has {a} books. On Monday {b} books are borrowed, on Tuesday {c} are returned"
        " and on Wednesday {d} new books arrive. How many books does the library have now?",
    ),
    _t(
        "classes",
        "{a} * {b} - {c} + {d}",
        "A school has {a} classes with {b} students each. {c} students are absent and {d} "
        "visitors come. How many people are in the classes?",
        a=FACTOR,
        b=(10, 30),
    ),
    _t(
        "shopping",
        "{a} * {b} + {c} * {d}",
        "{name} buys {a} pens at {b} coins each and {c} notebooks at {d} coins each. How many "
        "coins does {name} spend?",
        a=FACTOR,
        c=FACTOR,
        b=(2, 20),
        d=(2, 20),
    ),
)

# --- the ood family: units, clocks, money and comparisons -------------------------------------

_OOD_ADD = (
    _t(
        "cents-sum",
        "{a} + {b}",
        "A pencil costs {a} cents and an eraser costs {b} cents. How many cents do they cost "
        "together?",
    ),
    _t(
        "minutes-sum",
        "{a} + {b}",
        "{name} walks for {a} minutes and then runs for {b} minutes. For how many minutes does "
        "{name} exercise?",
    ),
    _t(
        "ribbons",
        "{a} + {b}",
        "A red ribbon is {a} cm long and a blue ribbon is {b} cm long. How many cm long are "
        "they laid end to end?",
    ),
    _t(
        "warmer",
        "{a} + {b}",
        "It is {a} degrees outside in the morning. By noon it is {b} degrees warmer. How many "
        "degrees is it at noon?",
    ),
)
_OOD_SUB = (
    _t(
        "older",
        "{a} - {b}",
        "{name} is {a} years old and {friend} is {b} years old. How many years older is {name} "
        "than {friend}?",
    ),
    _t(
        "change",
        "{a} - {b}",
        "{name} pays {a} cents for a toy that costs {b} cents. How many cents of change does "
        "{name} get back?",
    ),
    _t(
        "taller",
        "{a} - {b}",
        "A tree is {a} meters tall and a house is {b} meters tall. How many meters taller is "
        "the tree than the house?",
    ),
    _t(
        "colder",
        "{a} - {b}",
        "It is {a} degrees at noon and {b} degrees colder at night. How many degrees is it at "
        "night?",
    ),
)
_OOD_ONE_STEP = (
    _t("weeks", "{a} * 7", "How many days are there in {a} weeks?", a=FACTOR),
    _t("dimes", "{a} * 10", "How many cents are {a} dimes worth?", a=FACTOR),
    _t("dozens", "{a} * 12", "How many eggs are in {a} dozen?", a=FACTOR),
    _t(
        "clock",
        "({a} + {b} - 1) % 12 + 1",
        "It is {a} o'clock. What hour will a 12-hour clock show {b} hours later?",
        a=(1, 12),
        b=(2, 20),
    ),
    _t(
        "points",
        "{a} + {b} + {c}",
        "{name} scores {a} points, then {b} points, then {c} points. How many points does "
        "{name} score in all?",
    ),
)
_OOD_TWO_STEP = (
    _t(
        "hours-minutes",
        "{a} * 60 + {b}",
        "How many minutes are {a} hours and {b} minutes?",
        a=(2, 5),
        b=(2, 59),
    ),
    _t(
        "dollars-cents",
        "{a} * 100 + {b}",
        "How many cents are {a} dollars and {b} cents?",
        a=(2, 9),
        b=(2, 99),
    ),
    _t(
        "weeks-days",
        "{a} * 7 + {b}",
        "How many days are {a} weeks and {b} days?",
        a=FACTOR,
        b=(2, 6),
    ),
    _t(
        "tickets-change",
        "{c} - {a} * {b}",
        "{name} buys {a} tickets at {b} cents each and pays with {c} cents. How many cents of "
        "change does {name} get?",
        a=FACTOR,
        b=FACTOR,
    ),
)
_OOD_THREE_STEP = (
    _t(
        "movie-left",
        "{a} * 60 + {b} - {c}",
        "A movie is {a} hours and {b} minutes long. {name} has watched {c} minutes of it. How "
        "many minutes are left?",
        a=(2, 3),
        b=(2, 59),
    ),
    _t(
        "wallet",
        "{a} * 100 + {b} - {c}",
        "{name} has {a} dollars and {b} cents and spends {c} cents. How many cents does {name} "
        "have left?",
        a=(2, 5),
        b=(2, 99),
    ),
    _t(
        "trip",
        "{a} * 24 + {b} + {c}",
        "A trip takes {a} days and {b} hours, and then there is a {c}-hour delay. How many "
        "hours does the trip take in all?",
        a=(2, 4),
        b=(2, 23),
        c=(1, 12),
    ),
    _t(
        "practice",
        "{a} * {b} * {c}",
        "{name} practices {a} minutes a day, {b} days a week, for {c} weeks. How many minutes "
        "is that?",
        a=(5, 60),
        b=(2, 7),
        c=(2, 4),
    ),
)

# The same template may serve several levels (with the level's number range); its id then
# names the same arithmetic at every level, so the split hash stays consistent across levels.
TEMPLATES: dict[str, dict[int, tuple[Template, ...]]] = {
    "arith": {
        0: _ADD,
        1: _ADD + _SUB,
        2: _MUL + _TWO_STEP,
        3: _TWO_STEP_MUL,
        4: _THREE_STEP,
    },
    "ood": {
        0: _OOD_ADD,
        1: _OOD_ADD + _OOD_SUB,
        2: _OOD_ONE_STEP,
        3: _OOD_TWO_STEP,
        4: _OOD_THREE_STEP,
    },
}
