"""`brief(value)`: a value an error message quotes, cut short.

Error messages go back to whoever sent the value (gRPC status details, HTTP 400 bodies, CLI
lines). Quoting a multi-megabyte field in full would hide the error itself (gRPC drops status
details past its metadata size limit) and copy attacker-sized data around, so every message
that quotes a value it did not choose goes through here. Built on the standard library's
`reprlib`, which keeps the head and the tail of long strings, bytes and containers.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sized

DEFAULT_LIMIT = 60  # characters of the quoted value, about


def brief(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """The repr of `value` in about `limit` characters; a cut string, bytes or container
    also gives its full length, so that the reader knows how much was sent."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = limit
    try:
        text = short.repr(value)
    except ValueError:  # an integer too long for str() (Python caps it at 4300 digits)
        return f"an integer of {value.bit_length()} bits"  # type: ignore[attr-defined]
    if isinstance(value, (str, bytes)):
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{text} ({len(value)} {unit})" if len(value) > limit else text
    if isinstance(value, Sized) and "..." in text:
        return f"{text} ({len(value)} items)"
    return text
