"""Column addition with carries: the testbed's task family, with worked solutions.

The testbed (`softcot.testbed`) needs a task whose chain of thought matters to a model small
enough for hundreds of CPU RL steps. Adding multi-digit numbers is one: written out column by
column, least significant first, each step is a one-digit lookup plus a carry, while stating
the sum at once means propagating every carry in a single forward pass, which a four-layer
model does poorly. The worked solution of `478+356` is

    8+6+0=14,7+5+1=13,4+3+1=8

one column per comma: the column's digits, the carry in, their sum. The answer is the last
column's sum followed by the other sums' last digits, last column first (834). The thought has
no spaces, so the first space the model writes is the start of `ANSWER_MARKER` and ends it.

Two families share the format: `builtin:carry?operands=2` (the RL family) and
`builtin:carry?operands=3` (three-number sums, seen in the supervised warm start but never in
RL: the held-out family of the out-of-domain check). Problems carry their own prompt, the bare sum
and a newline (no chat template, no few-shot examples: the model is taught the format, and a
byte-level model pays for every character), and train and test are disjoint by a hash of the
operands, as in `softcot.problems`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from softcot.families import int_list, source_options, split_of
from softcot.prompts import ANSWER_MARKER, MAX_GENERATED, MathProblem

FAMILY = "carry"
MAX_OPERANDS = 4
MAX_DIGITS = 6
DEFAULT_COUNT = 1000
_MAX_DRAWS = 10_000  # consecutive unusable draws before the space counts as exhausted


def worked_solution(operands: Sequence[int]) -> str:
    """The column-by-column thought for the sum of `operands` (non-negative integers)."""
    width = max(len(str(n)) for n in operands)
    digits = [str(n).zfill(width)[::-1] for n in operands]
    carry, columns = 0, []
    for position in range(width):
        column = [int(d[position]) for d in digits]
        total = sum(column) + carry
        columns.append("+".join(map(str, [*column, carry])) + f"={total}")
        carry = total // 10
    return ",".join(columns)


def solution_text(problem: MathProblem) -> str:
    """What the model is taught to write after the prompt: the thought, the answer marker
    and the boxed answer."""
    return f"{problem.metadata['thought']}{ANSWER_MARKER} \\boxed{{{problem.answer}}}."


def _split_of(operands: Sequence[int]) -> str:
    return split_of(f"{FAMILY}/" + "+".join(map(str, operands)))


def carry_problems(
    split: str,
    count: int,
    *,
    operands: int = 2,
    digits: Sequence[int] = (3,),
    seed: int = 0,
) -> list[MathProblem]:
    """`count` distinct sums of `operands` numbers with `digits` digits each (the lengths taken
    in turn), each with its worked solution in `metadata["thought"]`.

    Deterministic in (split, operands, digits, seed); a shorter list is a prefix of a longer.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if not 2 <= operands <= MAX_OPERANDS:
        raise ValueError(f"operands must be in 2..{MAX_OPERANDS}, got {operands}")
    if not digits or any(not 1 <= d <= MAX_DIGITS for d in digits):
        raise ValueError(f"digits must be a non-empty choice of 1..{MAX_DIGITS}, got {digits!r}")
    if not 0 <= count <= MAX_GENERATED:
        raise ValueError(f"count must be in 0..{MAX_GENERATED}, got {count}")
    rng = random.Random(f"{FAMILY}/{split}/{operands}/{seed}")
    seen: set[tuple[int, ...]] = set()
    problems = []
    for i in range(count):
        width = digits[i % len(digits)]
        for _ in range(_MAX_DRAWS):
            numbers = tuple(rng.randint(10 ** (width - 1), 10**width - 1) for _ in range(operands))
            if numbers not in seen and _split_of(numbers) == split:
                break
        else:
            raise ValueError(f"ran out of distinct {width}-digit {split} sums; ask for fewer")
        seen.add(numbers)
        question = "+".join(map(str, numbers))
        problems.append(
            MathProblem(
                id=f"{FAMILY}{operands}-{split}-{i:06d}",
                question=question,
                answer=str(sum(numbers)),
                family=f"{FAMILY}{operands}",
                metadata={"thought": worked_solution(numbers)},
                prompt=f"{question}\n",
            )
        )
    return problems


def carry_source(query: str, split: str, limit: int | None, seed: int) -> list[MathProblem]:
    """`builtin:carry[?operands=2&digits=2,3&count=N]`; `limit`, when given, caps the count."""
    options = source_options(
        f"builtin:{FAMILY}",
        query,
        {"operands": int, "digits": int_list, "count": int},
        # what a run config adds to a source without parameters
        hints={"levels": "the carry family has digits, not levels: write ?digits=3"},
    )
    count = options.get("count", DEFAULT_COUNT)
    if limit is not None:
        count = min(count, limit)
    operands, digits = options.get("operands", 2), options.get("digits", (3,))
    return carry_problems(split, count, operands=operands, digits=digits, seed=seed)
