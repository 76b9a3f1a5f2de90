"""A WorkerPool worker: load the target, then run chunks of items until the parent hangs up.

Started by the pool as `python -c BOOT SYS_PATH CMD_FD RESULT_FD PROGRESS_FD TARGET TIME_S
MEMORY_MB`, where BOOT sets the parent's sys.path (so the target resolves as it would in the
parent) and calls main. It imports nothing heavy itself (no torch unless the target does).
Ctrl-C is ignored here: the terminal's SIGINT is for the parent, which stops the workers itself.
"""

from __future__ import annotations

import importlib
import mmap
import os
import pickle
import signal
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from reasonloop.sandbox import limits
from reasonloop.sandbox._wire import (
    CHUNK_HEADER,
    FLUSH_INTERVAL_S,
    IDLE,
    INIT_FAILED,
    PROGRESS,
    READY,
    result_frame,
)
from reasonloop.sandbox.outcome import Kind, describe_exception

# A MemoryError that escapes an item (e.g. while pickling its result) ends the worker with this
# code, which the parent reports as kind "memory".
EXIT_MEMORY = 75


def resolve(target: str) -> Callable[[Any], Any]:
    module_name, _, name = target.partition(":")
    function = getattr(importlib.import_module(module_name), name)
    if not callable(function):
        raise TypeError(f"{target} is a {type(function).__name__}, not a function")
    return function


def run_item(
    function: Callable[[Any], Any], payload: bytes, watchdog: limits.Watchdog
) -> tuple[Kind, bytes]:
    try:
        watchdog.started = time.monotonic()
        try:
            value = function(pickle.loads(payload))
        finally:
            watchdog.started = None
        return "ok", pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except limits.TimeLimitExceeded:
        return "timeout", b""
    except MemoryError:
        return "memory", b""
    except BaseException as exc:  # SystemExit from the target is its error too
        return "error", describe_exception(exc).encode()


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Worker:
    def __init__(self, function: Callable[[Any], Any], result_fd: int, progress_fd: int) -> None:
        self.function = function
        self.result_fd = result_fd
        self.progress = mmap.mmap(progress_fd, PROGRESS.size)
        self.unsent: list[bytes] = []
        self.last_write = time.monotonic()

    def send(self) -> None:
        if self.unsent:
            write_all(self.result_fd, b"".join(self.unsent))
            self.unsent.clear()
            self.last_write = time.monotonic()

    def run_chunk(self, chunk: list[tuple[int, bytes]], watchdog: limits.Watchdog) -> None:
        with watchdog.ticking():
            for index, payload in chunk:
                if time.monotonic() - self.last_write >= FLUSH_INTERVAL_S:
                    self.send()
                PROGRESS.pack_into(self.progress, 0, index)
                kind, data = run_item(self.function, payload, watchdog)
                self.unsent.append(result_frame(index, kind, data))  # may run out of memory
                PROGRESS.pack_into(self.progress, 0, IDLE)
        self.send()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cmd_fd, result_fd, progress_fd, target, time_s, memory_mb = argv
    try:
        function = resolve(target)
    except BaseException as exc:
        write_all(
            int(result_fd), result_frame(INIT_FAILED, "error", describe_exception(exc).encode())
        )
        return 1
    limits.no_core_dumps()
    watchdog = limits.Watchdog(float(time_s))
    limits.limit_memory(float(memory_mb))
    worker = Worker(function, int(result_fd), int(progress_fd))
    write_all(worker.result_fd, result_frame(READY, "ok", b""))
    commands: BinaryIO = os.fdopen(int(cmd_fd), "rb")
    try:
        while len(header := commands.read(CHUNK_HEADER.size)) == CHUNK_HEADER.size:
            (size,) = CHUNK_HEADER.unpack(header)
            worker.run_chunk(pickle.loads(commands.read(size)), watchdog)
    except MemoryError:
        return EXIT_MEMORY
    except BrokenPipeError:
        pass  # the parent went away
    return 0  # the pool closed the command pipe
