"""Procedural problems: word problems drawn from the templates, with their answers computed.

Train and test are disjoint by construction: a problem's split is a stable hash of its
canonical content (family, template, numbers), so the same arithmetic never shows up in both
splits, whatever the seed, count or levels asked for.
"""

from __future__ import annotations

import ast
import operator
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, cast

from softcot.families import Split, int_list, source_options, split_of
from softcot.problems.templates import (
    FAMILIES,
    ITEMS,
    LEVEL_RANGES,
    LEVELS,
    NAMES,
    TEMPLATES,
    Template,
)
from softcot.prompts import MAX_GENERATED, MathProblem

Family = Literal["arith", "ood"]
DEFAULT_BUILTIN_COUNT = 1000
_MAX_DRAWS = 10_000  # consecutive unusable draws before a level counts as exhausted


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


def _split_of(family: str, template: Template, numbers: Mapping[str, int]) -> str:
    """The split a problem belongs to, from its canonical content only (never the seed)."""
    canonical = ",".join(f"{k}={numbers[k]}" for k in sorted(numbers))
    return split_of(f"{family}/{template.id}/{canonical}")


def _draw(
    family: str, level: int, split: str, rng: random.Random, seen: set[str]
) -> tuple[Template, str, str, int]:
    """One new problem of `split` at `level`: (template, question, expression, answer)."""
    lo, hi = LEVEL_RANGES[level]
    for _ in range(_MAX_DRAWS):
        template = rng.choice(TEMPLATES[family][level])
        numbers = {n: rng.randint(*template.ranges.get(n, (lo, hi))) for n in template.numbers}
        name, friend = rng.sample(NAMES, 2)
        question = template.text.format(name=name, friend=friend, item=rng.choice(ITEMS), **numbers)
        expression = template.expression.format(**numbers)
        answer = _evaluate(expression)
        if answer is None or question in seen or _split_of(family, template, numbers) != split:
            continue
        seen.add(question)
        return template, question, expression, answer
    raise ValueError(f"ran out of distinct level-{level} {family} {split} problems; ask for fewer")


def procedural_problems(
    split: Split,
    count: int,
    levels: Sequence[int] = (0, 1, 2),
    seed: int = 0,
    family: Family = "arith",
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


def builtin_problems(
    family: str, query: str, split: str, limit: int | None, seed: int
) -> list[MathProblem]:
    """`builtin:FAMILY[?levels=0,1&count=N]`; `limit`, when given, caps the count."""
    options = source_options(f"builtin:{family}", query, {"levels": int_list, "count": int})
    levels = options.get("levels", (0, 1, 2))
    count = options.get("count", DEFAULT_BUILTIN_COUNT)
    if limit is not None:
        count = min(count, limit)
    # any text: procedural_problems refuses another split or family with a ValueError
    return procedural_problems(cast(Split, split), count, levels, seed, cast(Family, family))
