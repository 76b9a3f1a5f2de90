"""make_pool: the local backend is a WorkerPool; the Ray backend gives the same outcomes (where
Ray is installed) or one clear line saying how to get it (where it is not)."""

from __future__ import annotations

import importlib.util
import sys
import threading

import pytest

from reasonloop.sandbox import Outcome, SandboxError, WorkerPool, make_pool

PROBE = "reasonloop.sandbox.probes:probe"
RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not RAY, reason="Ray is not installed: reasonloop-core[ray]")
# One item of each kind: ok, error, timeout (soft and hard), memory, crash, unpicklable value.
ITEMS = [
    ("echo", [1, "a"]),
    ("raise", "bad"),
    ("spin",),
    ("hang",),
    ("allocate", 4096),
    ("exit", 3),
    ("unpicklable",),
    *[("echo", i) for i in range(20)],
]


def test_local_backend_is_the_worker_pool() -> None:
    with make_pool(PROBE, 1, time_limit_s=0.5) as pool:
        assert isinstance(pool, WorkerPool) and pool.workers == 1
        assert pool.map([("echo", 7), ("raise", "no")]) == [
            Outcome.success(7),
            Outcome.failure("error", "ValueError: no"),
        ]


def test_bad_backends_and_arguments() -> None:
    with pytest.raises(ValueError, match="backend must be one of local, ray"):
        make_pool(PROBE, 1, backend="dask")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="address is for backend='ray'"):
        make_pool(PROBE, 1, address="auto")
    # checked before Ray is even imported, like the local pool checks them
    with pytest.raises(ValueError, match="not of the form 'module:function'"):
        make_pool("no_colon", 1, backend="ray")
    with pytest.raises(ValueError, match="time_limit_s must be > 0"):
        make_pool(PROBE, 1, time_limit_s=0, backend="ray")


def test_ray_backend_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, installed or not
    with pytest.raises(ValueError, match=r"pip install 'reasonloop-core\[ray\]'"):
        make_pool(PROBE, 1, backend="ray")


@pytest.fixture
def ray_on_this_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray's workers run this interpreter: under `uv run` Ray would start them with `uv run`
    in an uploaded copy of the working directory instead (read when ray is imported)."""
    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


@needs_ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_on_this_interpreter")
def test_ray_outcomes_equal_local_ones() -> None:
    with make_pool(PROBE, 2, time_limit_s=0.5, memory_limit_mb=256) as local:
        expected = local.map(ITEMS, chunk_size=4)
    assert [o.kind for o in expected[:7]] == [
        *("ok", "error", "timeout", "timeout", "memory", "crash", "error")
    ]
    with make_pool(PROBE, 2, time_limit_s=0.5, memory_limit_mb=256, backend="ray") as pool:
        assert pool.workers == 2
        assert pool.map(ITEMS, chunk_size=4) == expected
        assert pool.map([]) == []
        with pytest.raises(TypeError, match=r"items\[1\] cannot be sent"):
            pool.map([("echo", 1), ("echo", threading.Lock())])
    assert pool.closed
    with pytest.raises(SandboxError, match="closed"):
        pool.map([("echo", 1)])


@needs_ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_on_this_interpreter")
def test_ray_target_that_does_not_load_is_a_sandbox_error() -> None:
    with (
        make_pool("reasonloop.no_such_module:f", 1, backend="ray") as pool,
        pytest.raises(SandboxError, match="does not load"),
    ):
        pool.map([1])
