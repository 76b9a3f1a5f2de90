"""The math problems softcot trains and evaluates on: built-in procedural families and files.

RL only learns from problems the base model sometimes solves, so the built-in families come in
difficulty levels, from a single small addition up to three-step problems (see `LEVELS`);
a run picks the levels that suit its model. `arith` is plain word-problem arithmetic; `ood`
asks for the same skills in different clothes (units, clocks, money, comparisons), to see
whether what RL taught carries over.

Train and test are disjoint by construction: a problem's split is a stable hash of its
canonical content (family, template, numbers), so the same arithmetic never shows up in both
splits, whatever the seed, count or levels asked for.

`load_problems` reads a source string, as written in a config:

- `builtin:arith`, `builtin:ood`, optionally with parameters: `builtin:arith?levels=0,1&count=200`
  (defaults: levels 0,1,2 and `DEFAULT_BUILTIN_COUNT` problems);
- `builtin:carry?operands=2&digits=3`, column addition with worked solutions (`softcot.carry`,
  the testbed's family);
- a `.jsonl` file with one problem a line (GSM8K- and MATH-style answers are understood);
- `hf:NAME[:CONFIG]`, a hub dataset (needs the `hub` extra and a connection);
- `grpc://HOST:PORT`, the tasks of a Benchmark server (any method's), asked with the task's
  own prompt; the reference answer is the task id, so only that server's `Grade` can score
  them (`train.reward` set to the same address).
"""

from __future__ import annotations

import ast
import hashlib
import operator
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from string import Formatter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

from reasonloop.jsonl import read_jsonl
from reasonloop.limits import MAX_PROMPT_CHARS
from reasonloop.rewards.extraction import extract_boxed
from softcot.carry import FAMILY as CARRY_FAMILY
from softcot.carry import carry_source
from softcot.prompts import MAX_GENERATED, MathProblem

if TYPE_CHECKING:
    from reasonloop.sampling.decoder import Prompt

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
DEFAULT_BUILTIN_COUNT = 1000
TEST_ONE_IN = 4  # one problem in 4, chosen by content hash, belongs to the test split
REMOTE_SCHEME = "grpc://"
REMOTE_TIMEOUT_S = 60.0  # listing a Benchmark server's tasks

# Numbers a level draws when a template does not fix the range itself.
_LEVEL_RANGES = {0: (2, 10), 1: (2, 20), 2: (2, 20), 3: (2, 50), 4: (2, 100)}
_FACTOR = (2, 10)  # the range of a multiplier
_MAX_DRAWS = 10_000  # consecutive unusable draws before a level counts as exhausted

_NAMES = ("Tom", "Mia", "Sam", "Ana", "Ben", "Lily", "Max", "Zoe", "Omar", "Nina", "Leo", "Emma")
_ITEMS = ("apples", "pencils", "marbles", "stickers", "cookies", "books", "shells", "stamps")


@dataclass(frozen=True)
class _Template:
    """A word problem with named numbers, and the expression that answers it.

    Both are `str.format` templates over the numbers ({a}, {b}, ...); the text may also use
    {name}, {friend} (another name) and {item} (a plural noun).
    """

    id: str
    expression: str  # the numbers combined with + - * % and integer constants
    text: str
    ranges: Mapping[str, tuple[int, int]]  # numbers not listed use the level's range
    numbers: tuple[str, ...]  # the names of the numbers, in the order they are drawn


def _t(id: str, expression: str, text: str, **ranges: tuple[int, int]) -> _Template:
    numbers = sorted({field for _, field, _, _ in Formatter().parse(expression) if field})
    return _Template(id, expression, text, ranges, tuple(numbers))


_OPERATORS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Mod: operator.mod,
}


def _evaluate(expression: str) -> int | None:
    """The value of an integer expression, or None when some step goes negative.

    Word problems cannot give away more than there is, so a negative intermediate result
    marks a draw to throw away, not just a negative answer.
    """

    def value(node: ast.expr) -> int | None:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = value(node.left), value(node.right)
            if left is None or right is None:
                return None
            result = _OPERATORS[type(node.op)](left, right)
            return result if result >= 0 else None
        raise ValueError(f"unsupported expression {expression!r}")

    return value(ast.parse(expression, mode="eval").body)


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
        a=_FACTOR,
        b=_FACTOR,
    ),
    _t(
        "mul-rows",
        "{a} * {b}",
        "{name} puts {item} in {a} rows with {b} in each row. How many {item} are there?",
        a=_FACTOR,
        b=_FACTOR,
    ),
    _t(
        "mul-pages",
        "{a} * {b}",
        "{name} reads {a} pages every day. How many pages does {name} read in {b} days?",
        a=_FACTOR,
        b=_FACTOR,
    ),
    _t(
        "mul-bags",
        "{a} * {b}",
        "{name} has {a} bags with {b} {item} in each bag. How many {item} does {name} have?",
        a=_FACTOR,
        b=_FACTOR,
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
        a=_FACTOR,
        b=_FACTOR,
    ),
    _t(
        "mul-sub",
        "{a} * {b} - {c}",
        "{name} buys {a} packs of {item} with {b} in each pack and gives {c} to {friend}. How "
        "many {item} does {name} have left?",
        a=_FACTOR,
        b=_FACTOR,
    ),
    _t(
        "add-mul",
        "({a} + {b}) * {c}",
        "Each of {c} tables has {a} red {item} and {b} blue {item}. How many {item} are on the "
        "tables in all?",
        a=(2, 10),
        b=(2, 10),
        c=_FACTOR,
    ),
    _t(
        "mul-spend",
        "{a} * {b} - {c}",
        "{name} earns {a} coins a day for {b} days and then spends {c} coins. How many coins "
        "does {name} have left?",
        a=_FACTOR,
        b=_FACTOR,
    ),
    _t(
        "times-as-many",
        "{a} + {a} * {b}",
        "{name} has {a} {item}. {friend} has {b} times as many. How many {item} do they have "
        "together?",
        a=(2, 20),
        b=_FACTOR,
    ),
)
_THREE_STEP = (
    _t(
        "mul-add-sub",
        "{a} * {b} + {c} - {d}",
        "{name} has {a} bags with {b} {item} in each bag. {name} buys {c} more and then gives "
        "{d} to {friend}. How many {item} does {name} have now?",
        a=_FACTOR,
        b=_FACTOR,
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
        a=_FACTOR,
        b=(10, 30),
    ),
    _t(
        "shopping",
        "{a} * {b} + {c} * {d}",
        "{name} buys {a} pens at {b} coins each and {c} notebooks at {d} coins each. How many "
        "coins does {name} spend?",
        a=_FACTOR,
        c=_FACTOR,
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
    _t("weeks", "{a} * 7", "How many days are there in {a} weeks?", a=_FACTOR),
    _t("dimes", "{a} * 10", "How many cents are {a} dimes worth?", a=_FACTOR),
    _t("dozens", "{a} * 12", "How many eggs are in {a} dozen?", a=_FACTOR),
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
        a=_FACTOR,
        b=(2, 6),
    ),
    _t(
        "tickets-change",
        "{c} - {a} * {b}",
        "{name} buys {a} tickets at {b} cents each and pays with {c} cents. How many cents of "
        "change does {name} get?",
        a=_FACTOR,
        b=_FACTOR,
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
_TEMPLATES: dict[str, dict[int, tuple[_Template, ...]]] = {
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


def _split_of(family: str, template: _Template, numbers: Mapping[str, int]) -> str:
    """The split a problem belongs to, from its canonical content only (never the seed)."""
    canonical = f"{family}/{template.id}/" + ",".join(f"{k}={numbers[k]}" for k in sorted(numbers))
    digest = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")
    return "test" if digest % TEST_ONE_IN == 0 else "train"


def _draw(
    family: str, level: int, split: str, rng: random.Random, seen: set[str]
) -> tuple[_Template, str, str, int]:
    """One new problem of `split` at `level`: (template, question, expression, answer)."""
    lo, hi = _LEVEL_RANGES[level]
    for _ in range(_MAX_DRAWS):
        template = rng.choice(_TEMPLATES[family][level])
        numbers = {n: rng.randint(*template.ranges.get(n, (lo, hi))) for n in template.numbers}
        name, friend = rng.sample(_NAMES, 2)
        question = template.text.format(
            name=name, friend=friend, item=rng.choice(_ITEMS), **numbers
        )
        expression = template.expression.format(**numbers)
        answer = _evaluate(expression)
        if answer is None or question in seen or _split_of(family, template, numbers) != split:
            continue
        seen.add(question)
        return template, question, expression, answer
    raise ValueError(f"ran out of distinct level-{level} {family} {split} problems; ask for fewer")


def procedural_problems(
    split: Literal["train", "test"],
    count: int,
    levels: Sequence[int] = (0, 1, 2),
    seed: int = 0,
    family: Literal["arith", "ood"] = "arith",
) -> list[MathProblem]:
    """`count` distinct generated word problems with integer answers, levels taken in turn.

    Levels (see `LEVELS`): 0 one addition, numbers <= 10; 1 one addition or subtraction,
    numbers <= 20; 2 one multiplication (<= 10 x 10) or two additions/subtractions;
    3 two steps with a multiplication, numbers <= 50; 4 three steps, numbers <= 100. The `ood`
    family follows the same ladder with units, clocks, money and comparisons.

    Deterministic in (split, levels, seed, family), and a shorter list is a prefix of a longer
    one. Each level draws from its own seeded stream, keeping the problems of its split and
    skipping repeated texts. `metadata` holds the template id and the arithmetic with the
    numbers filled in (e.g. `{"expression": "3 + 2"}`).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    if not levels or any(level not in LEVELS for level in levels):
        raise ValueError(f"levels must be a non-empty choice of {sorted(LEVELS)}, got {levels!r}")
    if not 0 <= count <= MAX_GENERATED:
        raise ValueError(f"count must be in 0..{MAX_GENERATED}, got {count}")
    rngs = {level: random.Random(f"{family}/{split}/{seed}/{level}") for level in levels}
    seen: set[str] = set()
    problems = []
    for i in range(count):
        level = levels[i % len(levels)]
        template, question, expression, answer = _draw(family, level, split, rngs[level], seen)
        problems.append(
            MathProblem(
                id=f"{family}-{split}-L{level}-{i:06d}",
                question=question,
                answer=str(answer),
                level=level,
                family=family,
                metadata={"template": template.id, "expression": expression},
            )
        )
    return problems


# --- files and hub datasets -------------------------------------------------------------------

_GSM8K_MARKER = "####"


def reference_answer(answer: str) -> str:
    """The final answer of a reference solution.

    GSM8K: what follows `####` (thousands commas dropped); MATH: the content of the last
    `\\boxed{...}` or `\\fbox{...}`, as core's `extract_boxed` reads it (nested and escaped
    braces kept, in linear time); anything else: the whole text, stripped.
    """
    if _GSM8K_MARKER in answer:
        return answer.rsplit(_GSM8K_MARKER, 1)[1].strip().replace(",", "")
    boxed = extract_boxed(answer)
    return boxed if boxed is not None else answer.strip()


# A record to read a problem from: (where it is, for errors; its default id; its fields).
_Record = tuple[str, str, Any]


def _field(record: Mapping[str, Any], name: str, fallback: str, where: str) -> str:
    """The record's `name` field, or its MATH-style `fallback` field when `name` is absent;
    text (or a number) of at most MAX_PROMPT_CHARS, checked before anything tokenizes it."""
    for key in (name, fallback):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | float | None):
            raise ValueError(f"{where}: {key!r} must be text, not {type(value).__name__}")
        if isinstance(value, str) and len(value) > MAX_PROMPT_CHARS:
            raise ValueError(
                f"{where}: {key!r} is {len(value)} characters, over the {MAX_PROMPT_CHARS} limit"
            )
        if value is not None and str(value).strip():
            return str(value)
    raise ValueError(f"{where}: no non-empty {name!r} field (nor {fallback!r})")


def _problem(record: _Record, family: str, question_field: str, answer_field: str) -> MathProblem:
    where, default_id, data = record
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    question = _field(data, question_field, "problem", where).strip()
    answer = reference_answer(_field(data, answer_field, "solution", where))
    if not answer:
        raise ValueError(f"{where}: the answer is empty once its final value is taken")
    problem_id = str(data["id"]) if data.get("id") is not None else default_id
    return MathProblem(problem_id, question, answer, family=family)


def _jsonl_records(path: Path) -> list[_Record]:
    """The non-blank lines of a JSONL file, parsed (all of them, so a bad line fails early)."""
    if not path.is_file():
        raise ValueError(f"problems file {path} not found")
    return [
        (f"{path}:{number}", f"{path.stem}-{number}", value) for number, value in read_jsonl(path)
    ]


def _hub_records(name: str, config: str | None, split: str) -> Iterator[_Record]:
    """The rows of a hub dataset split, loaded at once (rows are then read lazily)."""
    try:
        import datasets  # the optional `hub` extra, slow to import
    except ImportError:
        raise ValueError(
            "loading hub datasets needs `pip install reasonloop-softcot[hub]`"
        ) from None
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # offline, unknown name/config/split: one line, whatever the cause
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"could not load hub dataset {name!r} ({split}): {message}") from None
    return ((f"hf:{name} row {i}", f"{name}-{i}", row) for i, row in enumerate(dataset))


def _builtin(
    family: str, query: str, split: str, limit: int | None, seed: int
) -> list[MathProblem]:
    """`builtin:FAMILY[?levels=0,1&count=N]`; `limit`, when given, caps the count."""
    levels: Sequence[int] = (0, 1, 2)
    count = DEFAULT_BUILTIN_COUNT
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
        for key, values in params.items():
            if key == "levels":
                levels = tuple(int(level) for level in values[-1].split(","))
            elif key == "count":
                count = int(values[-1])
            else:
                raise ValueError(f"unknown parameter {key!r} (known: levels, count)")
    except ValueError as exc:
        raise ValueError(f"builtin:{family}?{query}: {exc}") from None
    if limit is not None:
        count = min(count, limit)
    return procedural_problems(split, count, levels, seed, family)  # type: ignore[arg-type]


def _prompt_text(prompt: Prompt) -> str:
    """A prompt's text as a question (the last message of a chat); token ids have none."""
    if isinstance(prompt, str):
        return prompt
    last = prompt[-1] if prompt else None
    return last["content"] if isinstance(last, Mapping) else ""


def remote_problems(address: str, limit: int | None = None) -> list[MathProblem]:
    """The tasks of the Benchmark server at `address` (grpc://HOST:PORT) as problems.

    Each keeps its task's prompt and metadata; its answer is the task id, which is what the
    server's `Grade` takes as the reference (`reasonloop.rewards.BenchmarkReward`).
    """
    import grpc

    from reasonloop.rpc import BenchmarkClient, Connection

    try:
        with BenchmarkClient(Connection(address, timeout_s=REMOTE_TIMEOUT_S)) as client:
            name, tasks = client.name, client.tasks()[:limit]
    except grpc.RpcError as exc:
        raise ValueError(
            f"could not list the tasks of {address}: {exc.code().name}: {exc.details()}"
        ) from None
    if not tasks and limit != 0:
        raise ValueError(f"the benchmark at {address} has no tasks")
    return [
        MathProblem(
            t.id,
            _prompt_text(t.prompt),
            t.id,
            family=name,
            metadata=dict(t.metadata),
            prompt=t.prompt,
        )
        for t in tasks
    ]


def load_problems(
    source: str,
    *,
    split: str = "test",
    limit: int | None = None,
    question_field: str = "question",
    answer_field: str = "answer",
    seed: int = 0,
) -> list[MathProblem]:
    """The problems of a source: `builtin:arith[?levels=0,1&count=200]`, `builtin:ood[...]`,
    a `.jsonl` file, `hf:NAME[:CONFIG]` or `grpc://HOST:PORT` (see `remote_problems`).

    `split` picks the built-in or hub split (a file is one split already); `seed` only matters
    for the built-in families; `limit` keeps the first problems. Records use `question_field`
    and `answer_field`, falling back to MATH's `problem` and `solution`; answers go through
    `reference_answer`; ids come from an `id` field, else `{stem}-{line}` (`{name}-{row}`).
    Errors are one-line ValueErrors naming the file and line (or the row of a hub dataset).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if source.startswith(REMOTE_SCHEME):
        return remote_problems(source, limit)
    scheme, _, rest = source.partition(":")
    if scheme == "builtin":
        family, _, query = rest.partition("?")
        if family == CARRY_FAMILY:
            return carry_source(query, split, limit, seed)
        if family not in FAMILIES:
            raise ValueError(
                f"unknown built-in family {family!r} in {source!r} (known: arith, ood, carry)"
            )
        return _builtin(family, query, split, limit, seed)
    records: Iterable[_Record]
    if scheme == "hf":
        name, _, config = rest.partition(":")
        if not name:
            raise ValueError(f"{source!r}: expected hf:NAME[:CONFIG]")
        records = _hub_records(name, config or None, split)
        family, what = name, f"hub dataset {name!r} ({split})"
    elif source.endswith(".jsonl"):
        path = Path(source)
        records = _jsonl_records(path)
        family, what = path.stem, f"problems file {path}"
    else:
        raise ValueError(
            f"unknown problem source {source!r}: expected builtin:arith, builtin:ood, "
            "a .jsonl file, hf:NAME[:CONFIG] or grpc://HOST:PORT"
        )
    problems = [
        _problem(record, family, question_field, answer_field) for record in islice(records, limit)
    ]
    if not problems and limit != 0:
        raise ValueError(f"{what} has no problems (it is empty)")
    return problems
