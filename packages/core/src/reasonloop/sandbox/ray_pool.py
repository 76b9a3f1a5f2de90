"""RayPool: WorkerPool's contract on an existing Ray cluster (`pip install reasonloop-core[ray]`).

    with RayPool("codeit.execution:run_job", workers=64, address="auto") as pool:
        outcomes = pool.map(jobs)  # list[Outcome], in the order of `jobs`

Each of the `workers` Ray actors hosts a local one-worker WorkerPool, so every item still runs
in the sandbox's own worker process with the same time and memory limits, and its Outcome is
exactly the one a local pool gives. Ray only carries chunks of items to the actors (at most two
queued per actor, the next chunk going to whichever finishes first) and the Outcomes back.

The cluster's nodes need the same packages as the driver (reasonloop-core and the target's
module); a lost actor is restarted and its chunk retried by Ray. Ray itself is imported only
when a RayPool is made.
"""

from __future__ import annotations

import math
import pickle
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from reasonloop.extras import install_hint
from reasonloop.sandbox.outcome import Outcome, SandboxError
from reasonloop.sandbox.pool import WorkerPool, _dump_item, check_pool_arguments
from reasonloop.slots import filled

INSTALL_HINT = f"the ray backend needs Ray: {install_hint('ray')}"
_RETRIES = 3  # restarts of a lost actor, and retries of the chunk it was running


def import_ray() -> Any:
    """The `ray` module, or ValueError saying how to install it."""
    try:
        import ray  # pyright: ignore[reportMissingImports] (the optional [ray] extra)
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


class _PoolHost:
    """The body of one Ray actor: a one-worker WorkerPool, the sandbox exactly as it runs
    locally. Items arrive pickled by the driver, so they fail to send as they would locally."""

    def __init__(
        self, target: str, time_limit_s: float, memory_limit_mb: float, start_timeout_s: float
    ) -> None:
        self.pool = WorkerPool(
            target,
            1,
            time_limit_s=time_limit_s,
            memory_limit_mb=memory_limit_mb,
            start_timeout_s=start_timeout_s,
        )

    def map(self, payloads: list[bytes], chunk_size: int) -> list[Outcome]:
        return self.pool.map([pickle.loads(p) for p in payloads], chunk_size)

    def close(self) -> None:
        self.pool.close()


class RayPool:
    """Run `target` ("module:function") over items in `workers` Ray actors (0 or None: one per
    CPU of the cluster), each item under `time_limit_s` and `memory_limit_mb` as in
    WorkerPool. `address`: a running cluster ("auto", "ray://HOST:10001"); None: the one
    RAY_ADDRESS names, else a local Ray instance. `map` calls are serialized."""

    def __init__(
        self,
        target: str,
        workers: int | None = None,
        *,
        time_limit_s: float = 1.0,
        memory_limit_mb: float = 512.0,
        start_timeout_s: float = 120.0,
        address: str | None = None,
    ) -> None:
        check_pool_arguments(target, workers, time_limit_s, memory_limit_mb, start_timeout_s)
        ray = import_ray()
        self._owns_ray = not ray.is_initialized()  # then close() disconnects again
        if self._owns_ray:
            ray.init(address=address)
        self._ray = ray
        self.target = target
        self._size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        host = ray.remote(num_cpus=1, max_restarts=_RETRIES, max_task_retries=_RETRIES)(_PoolHost)
        limits = (float(time_limit_s), float(memory_limit_mb), float(start_timeout_s))
        self._actors = [host.remote(target, *limits) for _ in range(self._size)]
        self._closed = False
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def map(self, items: Iterable[Any], chunk_size: int = 64) -> list[Outcome]:
        """The outcome of `target(item)` for each item, in order, as WorkerPool.map gives it.
        Only a closed pool, a target that cannot load or a failing cluster raises."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
        with self._lock:
            if self._closed:
                raise SandboxError("the RayPool is closed")
            payloads = [_dump_item(index, item) for index, item in enumerate(items)]
            try:
                return self._run(payloads, chunk_size)
            except self._ray.exceptions.RayTaskError as error:
                cause = error.cause
                if isinstance(cause, SandboxError):
                    raise SandboxError(str(cause)) from None
                raise SandboxError(f"a Ray task failed: {cause!r}") from error
            except self._ray.exceptions.RayError as error:
                raise SandboxError(f"the Ray cluster failed: {error}") from error

    def _run(self, payloads: list[bytes], chunk_size: int) -> list[Outcome]:
        """Chunks to actors as they free up (two queued each, so none waits for the driver)."""
        size = max(1, min(chunk_size, math.ceil(len(payloads) / (4 * self._size))))
        starts = deque(range(0, len(payloads), size))
        free = deque(self._actors * 2)
        running: dict[Any, tuple[Any, int]] = {}  # task -> (actor, index of its first item)
        results: list[Outcome | None] = [None] * len(payloads)
        while starts or running:
            while starts and free:
                actor, start = free.popleft(), starts.popleft()
                running[actor.map.remote(payloads[start : start + size], size)] = (actor, start)
            (done,), _ = self._ray.wait(list(running), num_returns=1)
            actor, start = running.pop(done)
            results[start : start + size] = self._ray.get(done)
            free.append(actor)
        return filled(results)  # every chunk came back

    def close(self) -> None:
        """Stop the actors' workers, then the actors (and Ray, if this pool started it)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._ray.get([actor.close.remote() for actor in self._actors], timeout=10)
            except self._ray.exceptions.RayError:
                pass  # an actor that is gone took its worker with it
            finally:
                for actor in self._actors:
                    self._ray.kill(actor, no_restart=True)
                if self._owns_ray:
                    self._ray.shutdown()

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
