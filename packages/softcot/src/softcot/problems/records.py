"""Problems written down as records: the lines of a JSONL file or the rows of a hub dataset.

A record names its question and its reference solution (GSM8K- and MATH-style fields are
understood); `reference_answer` takes the final answer out of the solution.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reasonloop.jsonl import read_jsonl
from reasonloop.limits import MAX_PROMPT_CHARS
from reasonloop.rewards.extraction import extract_final_answer
from softcot.prompts import MathProblem

# A number with thousands separators (GSM8K writes `#### 1,234`): stored without them.
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def reference_answer(answer: str) -> str:
    r"""The final answer of a reference solution, as core's `extract_final_answer` reads a
    completion's (the last `\boxed{...}`/`\fbox{...}` with nested and escaped braces kept,
    else a GSM8K `#### answer` line, else an `Answer:` line; in linear time), with a number's
    thousands commas dropped. A solution stating none is its own answer, stripped, unless it
    has a `####` marker with nothing after it: then the answer is empty.
    """
    final = extract_final_answer(answer)
    if final is None:
        return "" if "####" in answer else answer.strip()
    return final.replace(",", "") if _THOUSANDS.fullmatch(final) else final


# A record to read a problem from: (where it is, for errors; its default id; its fields).
Record = tuple[str, str, Any]


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


def record_problem(
    record: Record, family: str, question_field: str, answer_field: str
) -> MathProblem:
    """The problem a record holds: its question, the final answer of its solution, its id
    (the record's `id` field, else the default id); a one-line ValueError naming where it is."""
    where, default_id, data = record
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    question = _field(data, question_field, "problem", where).strip()
    answer = reference_answer(_field(data, answer_field, "solution", where))
    if not answer:
        raise ValueError(f"{where}: the answer is empty once its final value is taken")
    problem_id = str(data["id"]) if data.get("id") is not None else default_id
    return MathProblem(problem_id, question, answer, family=family)


def jsonl_records(path: Path) -> list[Record]:
    """The non-blank lines of a JSONL file, parsed (all of them, so a bad line fails early)."""
    if not path.is_file():
        raise ValueError(f"problems file {path} not found")
    return [
        (f"{path}:{number}", f"{path.stem}-{number}", value) for number, value in read_jsonl(path)
    ]


def hub_records(name: str, config: str | None, split: str) -> Iterator[Record]:
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
