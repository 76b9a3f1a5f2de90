"""JSON and JSONL files read back with line numbers; append-only logs recovered after a crash.

Every loader of a `.jsonl` (or whole `.json`) file — task files, datasets, buffers, run logs —
reads it here, so a bad file gets the same one-line `FILE:LINE: what is wrong` everywhere: a
line (file) over the size limit is refused before it is read whole, and bytes that are not
UTF-8, JSON nested too deep and JSON that does not parse are each named with their line.

A run appends one record a line to its logs and flushes after each; a crash can only tear the
last line (it then lacks its newline). `recover_jsonl` is what a resumed run calls first: it
drops a torn last line and the records the checkpoint it resumes from does not cover, says so
in one logged line, and rewrites the file atomically so that appending goes on cleanly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reasonloop.atomic import write_atomic

MAX_LINE_BYTES = 16 * 1024 * 1024  # one record; larger lines are refused before being read
MAX_JSON_BYTES = 64 * 1024 * 1024  # one whole .json file

log = logging.getLogger("reasonloop.recovery")  # what a resumed run cleared; CLIs print it


class JsonlError(ValueError):
    """A JSONL file that cannot be read; the message is one line naming the file and line."""


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, with nesting too deep for the parser a ValueError (not a RecursionError),
    so that every malformed document is a ValueError (a JSONDecodeError when it is not JSON)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deep") from None


def read_json(path: str | Path, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A whole JSON file's value; JsonlError names the file and the line of what is wrong."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(max_bytes + 1)
    except OSError as error:
        raise JsonlError(f"{path}: cannot read: {error.strerror or error}") from None
    if len(raw) > max_bytes:
        raise JsonlError(f"{path}: larger than {max_bytes} bytes")
    try:
        return parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise JsonlError(f"{path}:{line}: not UTF-8 (byte 0x{raw[error.start]:02x})") from None
    except json.JSONDecodeError as error:
        raise JsonlError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
    except ValueError as error:
        raise JsonlError(f"{path}: {error}") from None


def _lines(path: Path, max_line_bytes: int) -> Iterator[tuple[int, bytes, bool]]:
    """(number, raw line without its newline, whether it had one), never holding more than
    `max_line_bytes` of one line."""
    try:
        file = path.open("rb")
    except OSError as error:
        raise JsonlError(f"{path}: cannot read: {error.strerror or error}") from None
    with file:
        number = 0
        while line := file.readline(max_line_bytes + 1):
            number += 1
            ended = line.endswith(b"\n")
            if not ended and len(line) > max_line_bytes:
                raise JsonlError(f"{path}:{number}: line longer than {max_line_bytes} bytes")
            yield number, line.rstrip(b"\r\n"), ended


def _scan(
    path: Path, max_line_bytes: int, *, torn_tail: bool
) -> tuple[list[tuple[int, Any, bytes]], int | None]:
    """The parsed non-blank lines (number, value, raw bytes) and the number of a torn last
    line that was dropped (only when `torn_tail`), or None."""
    rows: list[tuple[int, Any, bytes]] = []
    pending: JsonlError | None = None  # a bad line is an error unless it turns out to be last
    torn: int | None = None
    for number, raw, ended in _lines(path, max_line_bytes):
        if pending is not None:
            raise pending
        if not raw.strip():
            continue
        try:
            rows.append((number, parse_json(raw.decode("utf-8")), raw))
        except UnicodeDecodeError as error:
            bad = raw[error.start : error.start + 1].hex()
            pending = JsonlError(f"{path}:{number}: not UTF-8 (byte 0x{bad} at {error.start})")
        except json.JSONDecodeError as error:
            what = f"invalid JSON: {error.msg} (column {error.colno})"
            pending = JsonlError(f"{path}:{number}: {what}")
        except ValueError as error:
            pending = JsonlError(f"{path}:{number}: {error}")
        if pending is not None and torn_tail and not ended:
            torn, pending = number, None  # the last line: the lines loop ends here
    if pending is not None:
        raise pending
    return rows, torn


def read_jsonl(path: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> list[tuple[int, Any]]:
    """(line number, value) of each non-blank line; JsonlError names the first bad line."""
    rows, _ = _scan(Path(path), max_line_bytes, torn_tail=False)
    return [(number, value) for number, value, _ in rows]


def read_records(path: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> list[dict]:
    """The JSON objects of a JSONL file; a line that is not an object is a JsonlError."""
    records = []
    for number, value in read_jsonl(path, max_line_bytes=max_line_bytes):
        if not isinstance(value, dict):
            raise JsonlError(f"{path}:{number}: expected a JSON object, not {_kind(value)}")
        records.append(value)
    return records


def recover_jsonl(
    path: str | Path,
    keep: Callable[[dict], bool] = lambda record: True,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> list[dict]:
    """The records of a run's log to resume from, the file rewritten to hold only them.

    A torn last line (no newline, not JSON: a crash mid-append) is dropped, as are the
    records `keep` refuses (steps past the checkpoint the run resumes from); one line is logged
    when anything was dropped. Any other bad line is a JsonlError: that is not a crash's doing.
    A missing file is an empty log.
    """
    path = Path(path)
    if not path.exists():
        return []
    rows, torn = _scan(path, max_line_bytes, torn_tail=True)
    kept = []
    for number, value, raw in rows:
        if not isinstance(value, dict):
            raise JsonlError(f"{path}:{number}: expected a JSON object, not {_kind(value)}")
        try:
            if keep(value):
                kept.append((value, raw))
        except (TypeError, ValueError, KeyError) as error:  # e.g. a step that is not a number
            raise JsonlError(f"{path}:{number}: not a record of this run ({error})") from None
    dropped = len(rows) - len(kept)
    if torn is not None or dropped:
        what = [f"the torn line {torn} (a crash mid-write)"] if torn is not None else []
        what += [f"{dropped} record(s) past the checkpoint"] if dropped else []
        log.warning("%s: resuming without %s", path, " and ".join(what))
    if torn is not None or dropped or not _ends_a_line(path):  # appends start on a new line
        write_atomic(path, b"".join(raw + b"\n" for _, raw in kept))
    return [value for value, _ in kept]


def _ends_a_line(path: Path) -> bool:
    """Whether the file is empty or its last byte is a newline."""
    with path.open("rb") as file:
        if file.seek(0, 2) == 0:
            return True
        file.seek(-1, 2)
        return file.read(1) == b"\n"


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
