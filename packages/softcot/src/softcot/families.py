"""What the built-in problem families (`builtin:arith`, `builtin:ood`, `builtin:carry`) share:
the source's `?key=value&...` options read one way, and the train/test split.

Train and test are disjoint by construction: a problem's split is a stable hash of its
canonical content, so the same arithmetic never shows up in both splits, whatever the seed,
count or levels asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qs

from reasonloop.hashing import stable_hash

TEST_ONE_IN = 4  # one problem in 4, chosen by content hash, belongs to the test split

Split = Literal["train", "test"]


def split_of(canonical: str) -> Split:
    """The split of the problem whose canonical content is `canonical` (never the seed)."""
    return "test" if stable_hash(canonical) % TEST_ONE_IN == 0 else "train"


def source_options(
    source: str,
    query: str,
    readers: Mapping[str, Callable[[str], Any]],
    *,
    hints: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The options of `source?query`, each value read by its key's reader (the last of a
    repeated key counts); a ValueError `source?query: what is wrong` for a malformed query,
    an unknown key (with its hint if `hints` has one, else the known keys) or a value its
    reader refuses."""
    options: dict[str, Any] = {}
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
        for key, values in params.items():
            if hints and key in hints:
                raise ValueError(hints[key])
            if key not in readers:
                raise ValueError(f"unknown parameter {key!r} (known: {', '.join(readers)})")
            options[key] = readers[key](values[-1])
    except ValueError as exc:
        raise ValueError(f"{source}?{query}: {exc}") from None
    return options


def int_list(text: str) -> tuple[int, ...]:
    """`3` or `0,1,2`: a comma-separated list of integers."""
    return tuple(int(item) for item in text.split(","))
