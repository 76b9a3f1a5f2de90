"""The WorkerPool's health probes: one target that misbehaves on request in each way the pool
must survive, so that a platform's limits can be checked for real.

    WorkerPool("reasonloop.sandbox.probes:probe").map([("spin",), ("allocate", 4096), ("exit", 1)])
    # -> timeout, memory, crash; the pool keeps serving

They live in the package because workers import their target by name and cannot import test
modules (pytest's importlib mode puts no test directory on sys.path).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any


def _spin() -> None:
    while True:
        pass


def _hang() -> None:
    """Stuck where the soft timer cannot reach (SIGALRM blocked), as in a long C call."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(3600)


def _fail(message: str) -> None:
    raise ValueError(message)


_ACTIONS: dict[str, Any] = {
    "echo": lambda value: value,
    "sleep": lambda seconds: time.sleep(seconds) or seconds,
    "spin": _spin,
    "hang": _hang,
    "allocate": lambda mb: len(bytearray(int(mb) * 1024 * 1024)),
    "exit": os._exit,
    "raise": _fail,
    "pid": os.getpid,
    "imported": lambda module: module in sys.modules,
    "unpicklable": threading.Lock,
}


def probe(request: tuple[Any, ...]) -> Any:
    """`(action, *args)`: echo x | sleep s | spin | hang | allocate mb | exit code | raise msg |
    pid | imported module | unpicklable (returns a lock)."""
    action, *args = request
    if action not in _ACTIONS:
        raise ValueError(f"unknown probe {action!r}; use one of {', '.join(_ACTIONS)}")
    return _ACTIONS[action](*args)
