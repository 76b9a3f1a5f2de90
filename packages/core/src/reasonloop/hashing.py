"""Stable hashing: the same integer for the same parts in every process, machine and run.

Python's `hash()` of a string changes with each process (PYTHONHASHSEED), so anything that
must come out the same on a resume, in another worker or on another machine — a sample's
seed, a problem's split, the few-shot examples a problem is asked with, the order targets are
picked in — is derived here instead, from SHA-256 of its parts.
"""

from __future__ import annotations

import hashlib

SEED_BITS = 63  # fits a signed 64-bit field (proto int64, torch and numpy seeds)


def _sha256(parts: tuple[object, ...]) -> bytes:
    return hashlib.sha256(":".join(map(str, parts)).encode()).digest()


def stable_digest(*parts: object) -> str:
    """The SHA-256 hex digest of the parts' `str`, joined by ':' — a sort key that orders
    items the same way everywhere (codeit picks its targets in this order)."""
    return _sha256(parts).hex()


def stable_hash(*parts: object) -> int:
    """An integer in [0, 2**63) from the same digest as `stable_digest`.

    Uniform enough for `% n` (a split, an index) and for seeding a generator; distinct part
    tuples collide with probability ~2**-63.
    """
    return int.from_bytes(_sha256(parts)[:8], "little") & ((1 << SEED_BITS) - 1)
