"""The math problems softcot trains and evaluates on, from the source string a config names.

`load_problems` reads a source string, as written in a config:

- `builtin:arith`, `builtin:ood`, optionally with parameters: `builtin:arith?levels=0,1&count=200`
  (defaults: levels 0,1,2 and `DEFAULT_BUILTIN_COUNT` problems): word problems in difficulty
  levels (`templates`), drawn with disjoint train and test splits (`generator`);
- `builtin:carry?operands=2&digits=3`, column addition with worked solutions (`softcot.carry`,
  the testbed's family);
- a `.jsonl` file with one problem a line (GSM8K- and MATH-style answers are understood;
  `records`);
- `hf:NAME[:CONFIG]`, a hub dataset (needs the `hub` extra and a connection; `records`);
- `grpc://HOST:PORT`, the tasks of a Benchmark server (any method's), asked with the task's
  own prompt; the reference answer is the task id, so only that server's `Grade` can score
  them (`train.reward` set to the same address; `remote`).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from softcot.carry import FAMILY as CARRY_FAMILY
from softcot.carry import carry_source
from softcot.problems.generator import DEFAULT_BUILTIN_COUNT, builtin_problems, procedural_problems
from softcot.problems.records import (
    Record,
    hub_records,
    jsonl_records,
    record_problem,
    reference_answer,
)
from softcot.problems.remote import REMOTE_SCHEME, remote_problems
from softcot.problems.templates import FAMILIES, LEVELS
from softcot.prompts import MathProblem


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
        return builtin_problems(family, query, split, limit, seed)
    records: Iterable[Record]
    if scheme == "hf":
        name, _, config = rest.partition(":")
        if not name:
            raise ValueError(f"{source!r}: expected hf:NAME[:CONFIG]")
        records = hub_records(name, config or None, split)
        family, what = name, f"hub dataset {name!r} ({split})"
    elif source.endswith(".jsonl"):
        path = Path(source)
        records = jsonl_records(path)
        family, what = path.stem, f"problems file {path}"
    else:
        raise ValueError(
            f"unknown problem source {source!r}: expected builtin:arith, builtin:ood, "
            "a .jsonl file, hf:NAME[:CONFIG] or grpc://HOST:PORT"
        )
    problems = [
        record_problem(record, family, question_field, answer_field)
        for record in islice(records, limit)
    ]
    if not problems and limit != 0:
        raise ValueError(f"{what} has no problems (it is empty)")
    return problems


__all__ = [
    "DEFAULT_BUILTIN_COUNT",
    "FAMILIES",
    "LEVELS",
    "load_problems",
    "procedural_problems",
    "reference_answer",
    "remote_problems",
]
