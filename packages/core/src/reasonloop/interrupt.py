"""Stopping a long run the way a terminal and a job scheduler ask: SIGINT and SIGTERM alike.

Ctrl-C sends SIGINT; a scheduler (SLURM, Kubernetes, `timeout`) sends SIGTERM before it kills a
job it preempts. Both stop a run the same way: the first signal asks for a graceful stop (a
trainer finishes its step and saves) or, for a run that has no graceful stop, interrupts it at
once (KeyboardInterrupt; its last checkpoint is already on disk). One keypress can arrive
twice (`uv run` forwards the terminal's SIGINT to the whole process group), so another signal
within `REPEAT_S` of the first is the same request and is ignored: it must not cut the save
short. A signal after that interrupts at once, for when a graceful stop takes too long.
"""

from __future__ import annotations

import atexit
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

REPEAT_S = 2.0  # a second signal this soon after the first is the same request
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED_EXIT = 130  # the shell's status for a run stopped by SIGINT (128 + 2)


_acted_at = -math.inf  # when a signal last asked or interrupted, in any of these contexts


@atexit.register
def _ignore_repeats_at_exit() -> None:
    """A run that stopped at once exits within `REPEAT_S` of the signal; Python's shutdown
    puts the default handlers back, under which a repeat would kill the exiting process
    (status -2, not the run's 130): ignore the stop signals from here on instead."""
    if time.monotonic() - _acted_at < REPEAT_S and _in_main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_on_signals(
    on_stop: Callable[[], None] | None = None, *, repeat_s: float = REPEAT_S
) -> Iterator[None]:
    """Inside: SIGINT and SIGTERM call `on_stop` (or raise KeyboardInterrupt without one), a
    later one raises KeyboardInterrupt; any signal within `repeat_s` of one that acted is
    ignored, also in an enclosing context (a CLI around a trainer: the repeat that arrives
    as the trainer returns) and after the block (a run that stopped at once). The previous
    handlers are restored after, behind a guard against that repeat. Outside the main thread
    (where Python delivers signals) this changes nothing."""
    if not _in_main_thread():
        yield
        return
    asked = False

    def handle(signum: int, frame: FrameType | None) -> None:
        global _acted_at
        nonlocal asked
        now = time.monotonic()
        if now - _acted_at < repeat_s:
            return  # the same request
        _acted_at = now
        if on_stop is None or asked:
            raise KeyboardInterrupt
        asked = True
        on_stop()

    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            _restore(sig, handler, repeat_s)


Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _restore(sig: signal.Signals, handler: Handler, repeat_s: float) -> None:
    """Put `handler` back for `sig`. While a repeat of a signal that just acted may still come
    (the run stopped in less than `repeat_s`), a guard stands in: it ignores the repeat, and
    hands a later signal to `handler`."""
    if time.monotonic() - _acted_at >= repeat_s:
        signal.signal(sig, handler)
        return

    def guard(signum: int, frame: FrameType | None) -> None:
        if time.monotonic() - _acted_at < repeat_s:
            return
        signal.signal(signum, handler)
        signal.raise_signal(signum)

    signal.signal(sig, guard)
