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

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

REPEAT_S = 2.0  # a second signal this soon after the first is the same request
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED_EXIT = 130  # the shell's status for a run stopped by SIGINT (128 + 2)


@contextmanager
def stop_on_signals(
    on_stop: Callable[[], None] | None = None, *, repeat_s: float = REPEAT_S
) -> Iterator[None]:
    """Inside: SIGINT and SIGTERM call `on_stop` (or raise KeyboardInterrupt without one),
    repeats within `repeat_s` are ignored, a later one raises KeyboardInterrupt. The previous
    handlers are restored after. Outside the main thread (where Python delivers signals) this
    changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: float | None = None

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal first
        now = time.monotonic()
        if first is None:
            first = now
            if on_stop is None:
                raise KeyboardInterrupt
            on_stop()
        elif now - first >= repeat_s:
            raise KeyboardInterrupt

    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
