"""WorkerPool with real worker processes: order, limits, crashes, recovery, shutdown.

Targets are builtins (`math:factorial`) and the pool's own probes
(`reasonloop.sandbox.probes:probe`): workers import their target by name and cannot import
this test module.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reasonloop.sandbox import Outcome, SandboxError, WorkerPool

PROBE = "reasonloop.sandbox.probes:probe"


def alive(pid: int) -> bool:
    """Whether `pid` exists at all (a zombie counts: it was not reaped)."""
    return Path(f"/proc/{pid}").exists()


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(PROBE, workers=2, time_limit_s=0.5, memory_limit_mb=256) as pool:
        yield pool


def worker_pids(pool: WorkerPool) -> set[int]:
    return {o.value for o in pool.map([("pid",)] * 8, chunk_size=1)}


def test_results_in_order_and_equal_to_direct_calls() -> None:
    items = [(i * 7) % 60 for i in range(300)]
    with WorkerPool("math:factorial", workers=2) as pool:
        for chunk_size in (1, 7, 64):
            outcomes = pool.map(items, chunk_size=chunk_size)
            assert [o.kind for o in outcomes] == ["ok"] * len(items)
            assert [o.value for o in outcomes] == [math.factorial(x) for x in items]
        bad = pool.map([3, -1, 4])
    assert bad[1] == Outcome(
        ok=False, value=None, error="ValueError: factorial() not defined for negative values",
        kind="error",
    )  # fmt: skip
    assert [bad[0].value, bad[2].value] == [6, 24]


def test_outcomes_do_not_depend_on_chunking(pool: WorkerPool) -> None:
    items = [("echo", i) if i % 5 else ("raise", f"bad {i}") for i in range(40)]
    one_by_one = pool.map(items, chunk_size=1)
    batched = pool.map(items, chunk_size=64)
    assert one_by_one == batched
    assert batched[5] == Outcome.failure("error", "ValueError: bad 5")
    assert batched[6] == Outcome.success(6)


def test_infinite_loop_times_out_and_the_worker_keeps_serving(pool: WorkerPool) -> None:
    before = worker_pids(pool)
    start = time.monotonic()
    outcomes = pool.map([("spin",), ("echo", 1), ("echo", 2)], chunk_size=3)
    assert time.monotonic() - start < 5
    assert outcomes[0] == Outcome.failure("timeout", "time limit of 0.5 s exceeded")
    assert [o.value for o in outcomes[1:]] == [1, 2]
    assert worker_pids(pool) == before  # the soft limit needs no new worker


def test_item_stuck_where_the_soft_limit_cannot_reach_is_killed_and_its_chunk_finishes() -> None:
    """Item 3 blocks SIGALRM: the parent's hard deadline kills the worker; the other items of
    its chunk (done before it but not yet reported, or queued behind it) are run again by a
    fresh worker."""
    items: list[tuple] = [("pid",)] * 20
    items[3] = ("hang",)
    with WorkerPool(PROBE, workers=1, time_limit_s=0.5) as pool:
        (first,) = worker_pids(pool)
        start = time.monotonic()
        outcomes = pool.map(items, chunk_size=10)
        elapsed = time.monotonic() - start
        (second,) = worker_pids(pool)
    assert outcomes[3] == Outcome.failure("timeout", "time limit of 0.5 s exceeded")
    assert all(o.ok and o.value in (first, second) for i, o in enumerate(outcomes) if i != 3)
    assert outcomes[-1].value == second != first and not alive(first)
    assert elapsed < 10


def test_memory_bomb_is_a_memory_outcome(pool: WorkerPool) -> None:
    outcomes = pool.map([("allocate", 8192), ("allocate", 32), ("echo", "after")])
    assert outcomes[0] == Outcome.failure("memory", "MemoryError: memory limit of 256 MB exceeded")
    assert outcomes[1] == Outcome.success(32 * 1024 * 1024)  # under the limit: fine
    assert outcomes[2].value == "after"


def test_worker_exit_is_a_crash_and_the_pool_recovers(pool: WorkerPool) -> None:
    items = [("echo", 0), ("exit", 3), ("echo", 2), ("echo", 3)]
    outcomes = pool.map(items, chunk_size=4)
    assert outcomes[1] == Outcome.failure("crash", "the worker died (exit code 3)")
    assert [outcomes[i].value for i in (0, 2, 3)] == [0, 2, 3]
    assert len(worker_pids(pool)) == 2


def test_worker_killed_while_idle_is_replaced_without_blaming_an_item(pool: WorkerPool) -> None:
    victim = next(iter(worker_pids(pool)))
    os.kill(victim, signal.SIGKILL)
    outcomes = pool.map([("echo", i) for i in range(16)], chunk_size=1)
    assert [o.value for o in outcomes] == list(range(16))
    assert victim not in worker_pids(pool)


def test_unpicklable_values(pool: WorkerPool) -> None:
    outcomes = pool.map([("unpicklable",), ("echo", 1)])
    assert outcomes[0].kind == "error"
    assert outcomes[0].error == "TypeError: cannot pickle '_thread.lock' object"
    assert outcomes[1].value == 1
    with pytest.raises(TypeError, match=r"items\[1\] cannot be sent to a worker"):
        pool.map([("echo", 1), ("echo", threading.Lock())])
    assert pool.map([("echo", 2)])[0].value == 2


def test_workers_are_reused_and_do_not_import_torch(pool: WorkerPool) -> None:
    assert worker_pids(pool) == worker_pids(pool)
    imported = pool.map([("imported", "torch"), ("imported", "reasonloop.sandbox.probes")])
    assert [o.value for o in imported] == [False, True]
    assert pool.map([]) == []


def test_target_resolves_with_the_parents_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sandbox_pool_target.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with WorkerPool("sandbox_pool_target:double", workers=1) as pool:
        assert [o.value for o in pool.map([1, 2])] == [2, 4]


def test_bad_targets() -> None:
    with pytest.raises(ValueError, match="not of the form 'module:function'"):
        WorkerPool("math.factorial")
    pool = WorkerPool("no_such_module_xyz:f", workers=1)
    with pytest.raises(SandboxError, match="ModuleNotFoundError: No module named 'no_such_mod"):
        pool.map([1])
    assert pool.closed
    with pytest.raises(ValueError, match="workers must be >= 0"):
        WorkerPool(PROBE, workers=-1)


def test_close_context_manager_and_cpu_count() -> None:
    with WorkerPool(PROBE, workers=0) as pool:
        assert pool.workers == os.cpu_count()
        pids = worker_pids(pool)
    assert pool.closed and not any(alive(pid) for pid in pids)
    with pytest.raises(SandboxError, match="the WorkerPool is closed"):
        pool.map([("echo", 1)])


def test_keyboard_interrupt_in_the_parent_stops_the_workers() -> None:
    pool = WorkerPool(PROBE, workers=1, time_limit_s=30)
    (pid,) = worker_pids(pool)
    # as if Ctrl-C arrived mid-map (delivered to another thread: the map notices it anyway)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        pool.map([("sleep", 10)])
    assert time.monotonic() - start < 5
    assert pool.closed and not alive(pid)


def test_interpreter_exit_without_close_does_not_hang_nor_leave_workers() -> None:
    script = textwrap.dedent(f"""
        from reasonloop.sandbox import WorkerPool
        pool = WorkerPool({PROBE!r}, workers=2)
        print(sorted({{o.value for o in pool.map([("pid",)] * 8, chunk_size=1)}}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    pids = eval(done.stdout)
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)
