"""The result of one sandboxed call: a value, or why there is none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Self, get_args

Kind = Literal["ok", "error", "timeout", "memory", "crash"]
KINDS: tuple[Kind, ...] = get_args(Kind)
_MAX_ERROR_CHARS = 2000


class SandboxError(RuntimeError):
    """The sandbox itself cannot run (closed pool, target that does not load), as opposed to a
    call that failed, which is an Outcome."""


@dataclass(frozen=True)
class Outcome:
    """`kind`: "ok"; "error" (the function raised: `error` is `TypeName: message`); "timeout"
    (over the time limit); "memory" (over the memory limit); "crash" (the process died)."""

    ok: bool
    value: Any
    error: str
    kind: Kind

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is unknown; use one of {', '.join(KINDS)}")
        if self.ok != (self.kind == "ok"):
            raise ValueError(f"ok={self.ok} contradicts kind {self.kind!r}")

    @classmethod
    def success(cls, value: Any, **extra: Any) -> Self:
        return cls(ok=True, value=value, error="", kind="ok", **extra)

    @classmethod
    def failure(cls, kind: Kind, error: str, **extra: Any) -> Self:
        return cls(ok=False, value=None, error=error, kind=kind, **extra)


def describe_exception(exc: BaseException) -> str:
    """`TypeName: message`, trimmed so one bad call cannot flood a log."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return trim(text)


def trim(text: str, limit: int = _MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " … [trimmed]"


def time_limit_message(seconds: float) -> str:
    return f"time limit of {seconds:g} s exceeded"


def memory_limit_message(megabytes: float) -> str:
    return f"MemoryError: memory limit of {megabytes:g} MB exceeded"
