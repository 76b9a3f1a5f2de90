"""One-line accounts of bad input: what a CLI prints after `error:` and a server returns.

pydantic's own message is a multi-line table and a parser's may quote the whole input, so each
loader turns what went wrong into one line here: the fields at fault, each with what is wrong,
shortened to what a terminal line or a status message can carry.
"""

from __future__ import annotations

from pydantic import ValidationError

from reasonloop.limits import clipped, shown

MAX_LISTED = 3  # errors named in one line; the count of the rest follows


def describe(error: ValidationError, *, subject: str = "value") -> str:
    """`field.path: what is wrong; ...` for the first errors (`subject` names the whole input
    when the error is about it rather than a field)."""
    problems = error.errors(include_url=False, include_input=False)
    parts = []
    for item in problems[:MAX_LISTED]:
        where = ".".join(_part(p) for p in item["loc"]) or subject
        parts.append(f"{where}: {item['msg']}")
    if len(problems) > MAX_LISTED:
        parts.append(f"and {len(problems) - MAX_LISTED} more")
    return clipped("; ".join(parts).replace("\n", " "))


def one_line(error: BaseException) -> str:
    """A ValidationError described, any other error's first line."""
    if isinstance(error, ValidationError):
        return describe(error)
    text = str(error).strip()
    return clipped(text.splitlines()[0] if text else type(error).__name__)


def _part(part: str | int) -> str:
    return str(part) if isinstance(part, int) or len(part) <= 40 else shown(part)
