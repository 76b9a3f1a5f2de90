"""Where a pool's workers run: local processes, or a Ray cluster, behind one `map` contract.

    pool = make_pool("codeit.execution:run_job", 8, time_limit_s=1.0, backend="ray")
    outcomes = pool.map(jobs)  # the same list[Outcome] as backend="local" gives

Both backends run every item in the sandbox's own worker process under the same per-item
limits, so an item's outcome depends on the item only, never on the backend: moving to a
cluster changes throughput, not results. Ray stays optional (`reasonloop-core[ray]`) and is
imported only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol, Self, get_args

from reasonloop.sandbox.outcome import Outcome
from reasonloop.sandbox.pool import WorkerPool

Backend = Literal["local", "ray"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)


class Pool(Protocol):
    """What callers of a pool rely on: WorkerPool's contract."""

    @property
    def workers(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    def map(self, items: Iterable[Any], chunk_size: int = 64) -> list[Outcome]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


def make_pool(
    target: str,
    workers: int | None = None,
    *,
    time_limit_s: float = 1.0,
    memory_limit_mb: float = 512.0,
    start_timeout_s: float = 120.0,
    backend: Backend = "local",
    address: str | None = None,
) -> Pool:
    """A WorkerPool (`local`) or a RayPool (`ray`, on the cluster at `address`; None: the one
    RAY_ADDRESS names, else a local Ray instance). `address` means nothing locally."""
    if backend == "local":
        if address is not None:
            raise ValueError("address is for backend='ray'; the local backend has none")
        return WorkerPool(
            target,
            workers,
            time_limit_s=time_limit_s,
            memory_limit_mb=memory_limit_mb,
            start_timeout_s=start_timeout_s,
        )
    if backend == "ray":
        from reasonloop.sandbox.ray_pool import RayPool

        return RayPool(
            target,
            workers,
            time_limit_s=time_limit_s,
            memory_limit_mb=memory_limit_mb,
            start_timeout_s=start_timeout_s,
            address=address,
        )
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
