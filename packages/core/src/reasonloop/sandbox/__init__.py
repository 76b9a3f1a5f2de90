"""Run untrusted code in subprocesses with time and memory limits: a hung or exploding call is
killed and reported, and the caller goes on.

- `WorkerPool`: a trusted function ("module:function") over many items, in long-lived workers
  (throughput: codeit's interpreter over programs x inputs).
- `run_python` / `run_python_batch`: LLM-written Python source, standard library only, in a
  fresh isolated interpreter per call or batch, JSON in and out (benchagents).
"""

from reasonloop.sandbox.outcome import KINDS, Kind, Outcome, SandboxError
from reasonloop.sandbox.pool import WorkerPool
from reasonloop.sandbox.python_runner import PythonResult, run_python, run_python_batch

__all__ = [
    "KINDS",
    "Kind",
    "Outcome",
    "PythonResult",
    "SandboxError",
    "WorkerPool",
    "run_python",
    "run_python_batch",
]
