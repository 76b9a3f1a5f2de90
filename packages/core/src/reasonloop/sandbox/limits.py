"""Resource limits a sandboxed process sets on itself, plus its soft per-call time limit.

Limits are applied inside the child (never with `preexec_fn` in the parent: that is unsafe once
the parent has threads, as torch and grpc start). Standard library only: the `run_python` child
runs without site-packages (`python -I -S`) and loads this file by path.

Memory is limited with RLIMIT_AS as *headroom*: the address space the process may add on top of
what it holds when the limit is set (the interpreter and, for a pool worker, its target module).
An absolute cap would depend on what the target imports (torch alone maps gigabytes).
On Linux the kernel enforces it: allocations beyond it fail, and Python raises MemoryError.
On macOS RLIMIT_AS is not enforced (setrlimit may even refuse it), so the memory limit is best
effort there; the time limits and the crash handling work the same.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import time
from collections.abc import Iterator

_MB = 1024 * 1024


class TimeLimitExceeded(BaseException):
    """Raised by the soft timer. A BaseException, so `except Exception` in the code under the
    limit does not swallow it (code that catches everything is stopped by the parent instead)."""


def address_space_bytes() -> int | None:
    """The process's current virtual size, or None where /proc is missing (macOS)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _set(limit: int, value: int) -> None:
    """Lower a soft and hard limit to `value` (never raise it above the current hard limit)."""
    _soft, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    with contextlib.suppress(ValueError, OSError):  # e.g. RLIMIT_AS on macOS
        resource.setrlimit(limit, (value, value))


def limit_memory(headroom_mb: float) -> None:
    """Allow `headroom_mb` more address space than the process holds now."""
    current = address_space_bytes() or 0
    _set(resource.RLIMIT_AS, current + int(headroom_mb * _MB))


def limit_cpu_seconds(seconds: float) -> None:
    """The kernel sends SIGXCPU (which kills) after `seconds` of CPU time: a last resort for
    code that blocks the soft timer, in processes that run a bounded amount of work."""
    _set(resource.RLIMIT_CPU, max(1, math.ceil(seconds)))


def limit_file_size(max_bytes: int) -> None:
    """Writes past `max_bytes` fail with OSError (EFBIG) instead of filling the disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the default action would kill silently
    _set(resource.RLIMIT_FSIZE, max_bytes)


def forbid_new_processes() -> None:
    """No fork or thread creation. Not enforced for root (CAP_SYS_RESOURCE bypasses it)."""
    _set(resource.RLIMIT_NPROC, 0)


def no_core_dumps() -> None:
    _set(resource.RLIMIT_CORE, 0)


class Watchdog:
    """Soft time limit for a series of calls in the main thread.

    While `ticking()`, a periodic SIGALRM checks how long the current call (`started`) has run
    and raises TimeLimitExceeded in it once over the limit. Starting and ending a call then costs
    no system call (a setitimer per call costs microseconds, as much as a cheap call itself); the
    price is precision: the call stops between the limit and the limit plus one tick. Pure-Python
    loops are stopped; C code that never returns to the interpreter (or blocks SIGALRM) is not,
    which is why the parent keeps a hard deadline of its own.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(seconds / 4, 0.25)
        self.started: float | None = None
        signal.signal(signal.SIGALRM, self._check)

    def _check(self, signum: int, frame: object) -> None:
        started = self.started
        if started is not None and time.monotonic() - started >= self.seconds:
            self.started = None  # once: the code under the limit may run `finally` blocks
            raise TimeLimitExceeded

    @contextlib.contextmanager
    def ticking(self) -> Iterator[Watchdog]:
        signal.setitimer(signal.ITIMER_REAL, self.tick, self.tick)
        try:
            yield self
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
