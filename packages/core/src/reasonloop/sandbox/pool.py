"""WorkerPool: one trusted function over many untrusted items, in long-lived worker processes
with a time limit per item and a memory limit per worker.

    with WorkerPool("codeit.interpreter:run_job", workers=2, time_limit_s=1.0) as pool:
        outcomes = pool.map(jobs)  # list[Outcome], in the order of `jobs`

Limits. Each item runs under a soft time limit in its worker (`limits.Watchdog`: SIGALRM
raises in pure-Python loops). The parent also keeps a hard deadline per item (time limit +
grace): a worker that does not answer in time (stuck in C code, or catching everything) is
SIGKILLed, the item it was on (which it records in a shared progress file) is a timeout, and its
other items go to a fresh worker. Memory: RLIMIT_AS headroom above the
loaded worker (see `limits`); MemoryError is kind "memory", and so is a worker the kernel killed
with SIGKILL (the OOM killer). A worker that dies otherwise is a "crash" of the item it was on.
Each item's outcome therefore depends on the item only, not on chunking or on which worker ran it
(as long as the function keeps no state between calls).

Throughput. Items are sent in chunks (one write per chunk, two chunks queued per worker so a
worker never waits for the parent); results come back in batches (see `_wire`), so an item
costs a few pickles and no system call of its own: about 7 µs of overhead per item with 2
workers on 2 busy cores, against a bare call of a fraction of a µs.

Processes. Workers are fresh interpreters started with `subprocess` (not `fork`, which is unsafe
once torch or grpc threads exist; and not multiprocessing's spawn/forkserver, which re-import the
parent's `__main__` script in every worker: a training script's `import torch` would cost
~20 s per worker). A worker starts in ~0.1 s and imports only the target's module, with the
parent's sys.path. Each worker runs in its own session, so Ctrl-C reaches only the parent, which
then stops the workers. Workers are stopped by `close()`, by the context manager, by garbage
collection or at interpreter exit, and a worker whose parent dies exits when its pipe closes.

Isolation is about faults and resources, not privileges: values come back as pickles, so the
target must itself be the security boundary for the code it runs (codeit's interpreter is). For
arbitrary LLM-written Python use `run_python`, which speaks JSON.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import selectors
import signal
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any

from reasonloop.sandbox import _process
from reasonloop.sandbox._wire import (
    FLUSH_INTERVAL_S,
    IDLE,
    INIT_FAILED,
    PROGRESS,
    READY,
    chunk_frame,
    parse_results,
)
from reasonloop.sandbox._worker import EXIT_MEMORY
from reasonloop.sandbox.outcome import (
    Kind,
    Outcome,
    SandboxError,
    describe_exception,
    memory_limit_message,
    time_limit_message,
)
from reasonloop.slots import filled

_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from reasonloop.sandbox._worker import main; sys.exit(main(sys.argv[2:]))"
)
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_READ_SIZE = 1 << 20
_EXIT_GRACE_S = 1.0  # how long a worker that closed its pipe gets to exit by itself
_CLOSE_GRACE_S = 1.0  # how long close() waits for idle workers before killing them
# the longest wait for events: a Ctrl-C that another thread received is only seen on waking up
_POLL_S = 0.25
_MAX_UNEXPLAINED_DEATHS = 3  # per worker and map call, so that map cannot loop forever


class _Worker:
    """One worker process, its two pipes, and the items sent to it in order (the first one is
    the item it is running)."""

    def __init__(self, target: str, time_limit_s: float, memory_limit_mb: float) -> None:
        self.progress_file = tempfile.TemporaryFile()  # noqa: SIM115  (open while the worker lives)
        self.progress_file.write(PROGRESS.pack(IDLE))
        self.progress_file.flush()
        progress_fd = self.progress_file.fileno()
        cmd_read, self.cmd_write = os.pipe()
        self.result_read, result_write = os.pipe()
        fds = (cmd_read, result_write, progress_fd)
        argv = [sys.executable, "-c", _BOOT, json.dumps([str(p) for p in sys.path])]
        argv += [*map(str, fds), target, repr(time_limit_s), repr(memory_limit_mb)]
        try:
            env = {**os.environ, **dict.fromkeys(_ONE_THREAD, "1")}
            self.proc = _process.start(argv, pass_fds=fds, env=env)
        except BaseException:
            os.close(self.cmd_write)
            os.close(self.result_read)
            self.progress_file.close()
            raise
        finally:
            os.close(cmd_read)
            os.close(result_write)
        os.set_blocking(self.cmd_write, False)
        os.set_blocking(self.result_read, False)
        self.started = time.monotonic()
        self.busy_since = self.started
        self.ready = False
        self.killed_for_timeout = False
        self.queue: deque[int] = deque()
        self.inbox = bytearray()
        self.outbox = bytearray()

    def deadline(self, start_timeout_s: float, item_timeout_s: float) -> float | None:
        """When to give up on the worker: every item starts within FLUSH_INTERVAL_S of its last
        write (or of the chunk's arrival), so no item can be older than that plus the limit."""
        if not self.ready:
            return self.started + start_timeout_s
        return self.busy_since + FLUSH_INTERVAL_S + item_timeout_s if self.queue else None

    def send(self, frame: bytes) -> None:
        self.outbox += frame
        self.flush()

    def flush(self) -> None:
        """Write what the pipe takes now; a dead worker's input is dropped (its death shows up
        as end-of-file on the result pipe)."""
        try:
            while self.outbox:
                written = os.write(self.cmd_write, self.outbox)
                del self.outbox[:written]
        except BlockingIOError:
            pass
        except BrokenPipeError:
            self.outbox.clear()

    def receive(self) -> bytes | None:
        """Bytes available now (b"" at end of file), or None if there are none yet."""
        try:
            return os.read(self.result_read, _READ_SIZE)
        except BlockingIOError:
            return None

    def hang_up(self) -> None:
        """Close the command pipe: an idle worker exits at once."""
        if self.cmd_write >= 0:
            os.close(self.cmd_write)
            self.cmd_write = -1

    def stop(self, grace_s: float) -> tuple[int, int]:
        """End the process (after `grace_s` to exit by itself) and release its pipes; its exit
        status and the item it was running (IDLE if none), as its progress file says."""
        self.hang_up()
        returncode = _process.stop(self.proc, grace_s)
        os.close(self.result_read)
        (running,) = PROGRESS.unpack(os.pread(self.progress_file.fileno(), PROGRESS.size, 0))
        self.progress_file.close()
        return returncode, running


def _stop_all(workers: list[_Worker], owner_pid: int) -> None:
    if os.getpid() != owner_pid:  # a forked copy of the parent does not own the workers
        return
    for worker in workers:
        worker.hang_up()
    deadline = time.monotonic() + _CLOSE_GRACE_S
    for worker in workers:
        worker.stop(max(0.0, deadline - time.monotonic()))
    workers.clear()


def check_pool_arguments(
    target: str,
    workers: int | None,
    time_limit_s: float,
    memory_limit_mb: float,
    start_timeout_s: float,
) -> None:
    """ValueError for arguments no pool can run with (every pool backend checks the same)."""
    if not _TARGET.fullmatch(target):
        raise ValueError(f"target {target!r} is not of the form 'module:function'")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0 (0: one per CPU), not {workers}")
    for name, value in [
        ("time_limit_s", time_limit_s),
        ("memory_limit_mb", memory_limit_mb),
        ("start_timeout_s", start_timeout_s),
    ]:
        if not value > 0:
            raise ValueError(f"{name} must be > 0, not {value}")


class WorkerPool:
    """Run `target` ("module:function", imported in the workers only) over items in `workers`
    processes (0 or None: one per CPU). Not for concurrent use from several threads: `map`
    calls are serialized."""

    def __init__(
        self,
        target: str,
        workers: int | None = None,
        *,
        time_limit_s: float = 1.0,
        memory_limit_mb: float = 512.0,
        start_timeout_s: float = 120.0,
    ) -> None:
        check_pool_arguments(target, workers, time_limit_s, memory_limit_mb, start_timeout_s)
        self.target = target
        self.time_limit_s = float(time_limit_s)
        self.memory_limit_mb = float(memory_limit_mb)
        self.start_timeout_s = float(start_timeout_s)
        # hard deadline: the soft timer plus time for the worker to report, on a busy machine
        self.hard_limit_s = self.time_limit_s + max(1.0, 0.25 * self.time_limit_s)
        self._closed = False
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._finalizer = weakref.finalize(self, _stop_all, self._workers, os.getpid())
        self._size = workers or os.cpu_count() or 1
        for _ in range(self._size):
            self._workers.append(self._new_worker())

    @property
    def workers(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def _new_worker(self) -> _Worker:
        return _Worker(self.target, self.time_limit_s, self.memory_limit_mb)

    def map(self, items: Iterable[Any], chunk_size: int = 64) -> list[Outcome]:
        """The outcome of `target(item)` for each item, in order. Up to `chunk_size` items go
        to a worker per message. Only a closed pool or a target that cannot load raises."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
        with self._lock:
            if self._closed:
                raise SandboxError("the WorkerPool is closed")
            payloads = [_dump_item(index, item) for index, item in enumerate(items)]
            if not payloads:
                return []
            try:
                return _Batch(self, payloads, chunk_size).run()
            except BaseException:  # KeyboardInterrupt included: never leave workers behind
                self._shut_down()
                raise

    def close(self) -> None:
        """Stop the workers (idle ones exit by themselves, within a second they are killed)."""
        with self._lock:
            self._shut_down()

    def _shut_down(self) -> None:
        self._closed = True
        self._finalizer()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _dump_item(index: int, item: Any) -> bytes:
    try:
        return pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        message = f"items[{index}] cannot be sent to a worker: {describe_exception(exc)}"
        raise TypeError(message) from exc


class _Batch:
    """The state of one `map` call: undispatched chunks, results so far, and the event loop."""

    def __init__(self, pool: WorkerPool, payloads: list[bytes], chunk_size: int) -> None:
        self.pool = pool
        self.payloads = payloads
        n = len(payloads)
        # small batches are still spread over all workers
        self.chunk = max(1, min(chunk_size, math.ceil(n / (4 * pool.workers))))
        self.pending: deque[list[int]] = deque()
        self._requeue(list(range(n)))
        self.results: list[Outcome | None] = [None] * n
        self.remaining = n
        self.unexplained_deaths = 0
        self.selector = selectors.DefaultSelector()

    def run(self) -> list[Outcome]:
        with self.selector:
            for worker in self.pool._workers:
                self.selector.register(worker.result_read, selectors.EVENT_READ, worker)
            while self.remaining:
                self._dispatch()
                self._wait()
                self._enforce_deadlines()
        return filled(self.results)  # remaining == 0: every item came back

    def _requeue(self, indices: list[int]) -> None:
        """Put items first in line, in chunks."""
        for start in reversed(range(0, len(indices), self.chunk)):
            self.pending.appendleft(indices[start : start + self.chunk])

    def _dispatch(self) -> None:
        for worker in self.pool._workers:
            while self.pending and len(worker.queue) < 2 * self.chunk:
                indices = self.pending.popleft()
                if not worker.queue:
                    worker.busy_since = time.monotonic()
                worker.queue.extend(indices)
                body = pickle.dumps([(i, self.payloads[i]) for i in indices])
                worker.send(chunk_frame(body))
            self._watch_writes(worker)

    def _watch_writes(self, worker: _Worker) -> None:
        """Wait for the command pipe to drain only while there is something left to write."""
        watched = worker.cmd_write in self.selector.get_map()
        if worker.outbox and not watched:
            self.selector.register(worker.cmd_write, selectors.EVENT_WRITE, worker)
        elif watched and not worker.outbox:
            self.selector.unregister(worker.cmd_write)

    def _wait(self) -> None:
        pool = self.pool
        deadlines = [
            deadline
            for worker in pool._workers
            if (deadline := worker.deadline(pool.start_timeout_s, pool.hard_limit_s)) is not None
        ]
        timeout = min([*deadlines, time.monotonic() + _POLL_S]) - time.monotonic()
        for key, _mask in self.selector.select(max(0.0, timeout)):
            worker: _Worker = key.data
            if worker not in pool._workers:
                continue  # retired while handling an earlier event of this round
            if key.fd == worker.cmd_write:
                worker.flush()
                self._watch_writes(worker)
            else:
                self._read(worker)

    def _read(self, worker: _Worker) -> None:
        data = worker.receive()
        if data is None:
            return
        if not data:
            self._retire(worker)
            return
        worker.inbox += data
        for index, kind, payload in parse_results(worker.inbox):
            self._on_frame(worker, index, kind, payload)

    def _on_frame(self, worker: _Worker, index: int, kind: Kind, payload: bytes) -> None:
        pool = self.pool
        if index == INIT_FAILED:
            raise SandboxError(f"target {pool.target!r} does not load: {payload.decode()}")
        worker.busy_since = time.monotonic()
        if index == READY:
            worker.ready = True
            return
        expected = worker.queue.popleft()
        if index != expected:
            raise SandboxError(f"worker answered item {index} while running item {expected}")
        if kind == "ok":
            try:
                outcome = Outcome.success(pickle.loads(payload))
            except Exception as exc:
                outcome = Outcome.failure(
                    "error", f"unpickling the result: {describe_exception(exc)}"
                )
        elif kind == "timeout":
            outcome = Outcome.failure("timeout", time_limit_message(pool.time_limit_s))
        elif kind == "memory":
            outcome = Outcome.failure("memory", memory_limit_message(pool.memory_limit_mb))
        else:
            outcome = Outcome.failure(kind, payload.decode(errors="replace"))
        self._finish(index, outcome)

    def _finish(self, index: int, outcome: Outcome) -> None:
        self.results[index] = outcome
        self.remaining -= 1

    def _enforce_deadlines(self) -> None:
        pool = self.pool
        for worker in list(pool._workers):
            deadline = worker.deadline(pool.start_timeout_s, pool.hard_limit_s)
            if deadline is None or time.monotonic() < deadline:
                continue
            self._read(worker)  # an answer may have arrived just now
            if worker not in pool._workers:
                continue
            deadline = worker.deadline(pool.start_timeout_s, pool.hard_limit_s)
            if deadline is None or time.monotonic() < deadline:
                continue
            if not worker.ready:
                raise SandboxError(
                    f"a worker did not load target {pool.target!r} in {pool.start_timeout_s:g} s"
                )
            worker.killed_for_timeout = True
            self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        """Reap a dead (or hung) worker, blame the item it was on, queue its other items again
        and start a replacement."""
        pool = self.pool
        slot = pool._workers.index(worker)
        del pool._workers[slot]
        self.selector.unregister(worker.result_read)
        if worker.cmd_write in self.selector.get_map():
            self.selector.unregister(worker.cmd_write)
        returncode, running = worker.stop(0.0 if worker.killed_for_timeout else _EXIT_GRACE_S)
        if not worker.ready:
            reason = _process.exit_reason(returncode)
            raise SandboxError(f"a worker died while loading target {pool.target!r} ({reason})")
        if running in worker.queue:
            self._finish(running, self._death(worker, returncode))
        else:  # it died between items (killed from outside, or while idle): nobody to blame
            self.unexplained_deaths += 1
            if self.unexplained_deaths > _MAX_UNEXPLAINED_DEATHS * pool.workers:
                reason = _process.exit_reason(returncode)
                raise SandboxError(f"workers keep dying outside any item (last: {reason})")
        self._requeue([index for index in worker.queue if index != running])
        replacement = pool._new_worker()
        pool._workers.insert(slot, replacement)
        self.selector.register(replacement.result_read, selectors.EVENT_READ, replacement)

    def _death(self, worker: _Worker, returncode: int) -> Outcome:
        pool = self.pool
        if worker.killed_for_timeout:
            return Outcome.failure("timeout", time_limit_message(pool.time_limit_s))
        if returncode == EXIT_MEMORY:
            return Outcome.failure("memory", memory_limit_message(pool.memory_limit_mb))
        if returncode == -signal.SIGKILL:
            return Outcome.failure("memory", "the worker was killed by SIGKILL (out of memory?)")
        reason = _process.exit_reason(returncode)
        return Outcome.failure("crash", f"the worker died ({reason})")
