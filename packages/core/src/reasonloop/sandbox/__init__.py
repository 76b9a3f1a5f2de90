"""Run untrusted code in subprocesses with time and memory limits: a hung or exploding call is
killed and reported, and the caller goes on.

- `WorkerPool`: a trusted function ("module:function") over many items, in long-lived workers
  (throughput: codeit's interpreter over programs x inputs).
- `make_pool`: the same contract with the workers on a Ray cluster (`backend="ray"`, see
  `ray_pool.RayPool`) or local (a WorkerPool): the same outcomes either way.
- `run_python` / `run_python_batch`: LLM-written Python source, standard library only, in a
  fresh interpreter per call, in OS isolation (`isolation`: bubblewrap + seccomp), JSON in and
  out (benchagents). `require_isolation` says up front whether this host can isolate it.
"""

from reasonloop.sandbox.backend import BACKENDS, Backend, Pool, make_pool
from reasonloop.sandbox.isolation import (
    IsolationUnavailable,
    UnsafeSandboxWarning,
    require_isolation,
)
from reasonloop.sandbox.outcome import KINDS, Kind, Outcome, SandboxError
from reasonloop.sandbox.pool import WorkerPool
from reasonloop.sandbox.python_runner import PythonResult, run_python, run_python_batch

__all__ = [
    "BACKENDS",
    "KINDS",
    "Backend",
    "IsolationUnavailable",
    "Kind",
    "Outcome",
    "Pool",
    "PythonResult",
    "SandboxError",
    "UnsafeSandboxWarning",
    "WorkerPool",
    "make_pool",
    "require_isolation",
    "run_python",
    "run_python_batch",
]
