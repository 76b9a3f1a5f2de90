"""Run LLM-written Python (standard library only) in a fresh, isolated interpreter.

    result = run_python("def f(x):\\n    return x * 2", "f", [21], time_limit_s=1.0)
    result.value  # 42

The source runs in `python -I -S` (no site-packages: third-party imports fail, on purpose), in an
empty temporary directory deleted afterwards, with a minimal environment (PATH, HOME, LANG: no
proxies or tokens of the parent). The child limits itself: address space (headroom, see
`limits`), CPU seconds, file size (1 MiB; larger writes raise OSError), no core dumps and no new
processes (RLIMIT_NPROC; not enforced when running as root). The parent keeps a wall-clock
deadline per call and kills the child's whole process group when it passes.

Arguments and return values are JSON; the source's `if __name__ == "__main__":` block does not
run. A batch runs all its calls in one child, so they share the module (a call that mutates
module state is seen by the next); after a call kills its child, the rest of the batch continues
in a fresh one.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonloop.sandbox import _process
from reasonloop.sandbox.outcome import (
    Outcome,
    memory_limit_message,
    time_limit_message,
)

_CHILD = Path(__file__).with_name("_python_child.py")
OUTPUT_LIMIT = 4096  # characters of printed output kept per call
FILE_LIMIT_BYTES = 1 << 20
_START_SLACK_S = 5.0  # interpreter start on a busy machine, before the first deadline counts
_GRACE_S = 1.0  # beyond the soft time limit, before the parent kills
_MAX_RESULT_BYTES = 64 << 20
_READ_SIZE = 1 << 20


@dataclass(frozen=True)
class PythonResult(Outcome):
    """An Outcome plus what the call printed (stdout and stderr, at most OUTPUT_LIMIT
    characters, then a note of how many more there were)."""

    stdout: str = ""


def run_python(
    source: str,
    function: str,
    args: Sequence[Any],
    *,
    time_limit_s: float = 5.0,
    memory_limit_mb: float = 512.0,
) -> PythonResult:
    """`function(*args)` as defined by `source`, in a fresh sandboxed interpreter."""
    return run_python_batch(
        source, function, [args], time_limit_s=time_limit_s, memory_limit_mb=memory_limit_mb
    )[0]


def run_python_batch(
    source: str,
    function: str,
    args_list: Sequence[Sequence[Any]],
    *,
    time_limit_s: float = 5.0,
    memory_limit_mb: float = 512.0,
) -> list[PythonResult]:
    """`function(*args)` for each args in `args_list`, in one child (one interpreter start):
    each call has its own soft time limit and its own deadline in the parent."""
    calls = _validate(source, function, args_list, time_limit_s, memory_limit_mb)
    results: list[PythonResult] = []
    while len(results) < len(calls):
        results += _run_child(
            source, function, calls[len(results) :], float(time_limit_s), float(memory_limit_mb)
        )
    return results


def _validate(
    source: str,
    function: str,
    args_list: Sequence[Sequence[Any]],
    time_limit_s: float,
    memory_limit_mb: float,
) -> list[list[Any]]:
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__}")
    if not isinstance(function, str) or not function.isidentifier():
        raise ValueError(f"function must be a Python identifier, not {function!r}")
    if not time_limit_s > 0 or not memory_limit_mb > 0:
        raise ValueError("time_limit_s and memory_limit_mb must be > 0")
    calls = []
    for index, args in enumerate(args_list):
        if isinstance(args, str | bytes) or not isinstance(args, Sequence):
            raise TypeError(f"args_list[{index}] must be a list of arguments, not {args!r:.80}")
        try:
            json.dumps(list(args), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"args_list[{index}] is not JSON-serializable: {exc}") from exc
        calls.append(list(args))
    return calls


def _child_env(workdir: str) -> dict[str, str]:
    return {"PATH": os.defpath, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}


def _run_child(
    source: str, function: str, calls: list[list[Any]], time_s: float, memory_mb: float
) -> list[PythonResult]:
    """Results of the calls, in order, up to and including the one the child died on (or all
    of them, if it died before the source had run)."""
    request = {
        "source": source,
        "function": function,
        "calls": calls,
        "time_limit_s": time_s,
        "memory_limit_mb": memory_mb,
        "output_limit": OUTPUT_LIMIT,
        "file_limit_bytes": FILE_LIMIT_BYTES,
    }
    argv = [sys.executable, "-I", "-S", str(_CHILD)]
    with (
        tempfile.TemporaryDirectory(prefix="reasonloop-sandbox-", ignore_cleanup_errors=True) as wd,
        tempfile.TemporaryFile() as request_file,  # as stdin: no blocking write to a pipe
    ):
        request_file.write(json.dumps(request).encode())
        request_file.seek(0)
        read_fd, write_fd = os.pipe()
        try:
            proc = _process.start(
                [*argv, str(write_fd)],
                pass_fds=(write_fd,),
                env=_child_env(wd),
                cwd=wd,
                stdin=request_file.fileno(),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            return _collect(proc, read_fd, len(calls), time_s, memory_mb)
        finally:
            _process.stop(proc)  # whatever it left running in its group goes too
            os.close(read_fd)


def _collect(
    proc: subprocess.Popen[bytes], read_fd: int, n: int, time_s: float, memory_mb: float
) -> list[PythonResult]:
    results: list[PythonResult] = []
    loaded = False
    buffer = bytearray()
    received = 0
    deadline = time.monotonic() + _START_SLACK_S + time_s + _GRACE_S
    death: PythonResult | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(read_fd, selectors.EVENT_READ)
        while len(results) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _process.stop(proc)
                death = PythonResult.failure("timeout", time_limit_message(time_s))
                break
            if not selector.select(remaining):
                continue
            data = os.read(read_fd, _READ_SIZE)
            received += len(data)
            if not data or received > _MAX_RESULT_BYTES:
                death = _death(proc, time_s, received > _MAX_RESULT_BYTES)
                break
            buffer += data
            while len(results) < n and (end := buffer.find(b"\n")) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                deadline = time.monotonic() + time_s + _GRACE_S
                record = _parse(line, time_s, memory_mb)
                if record is None:
                    loaded = True
                else:
                    results.append(record)
    if death is not None:
        results += [death] * (1 if loaded else n - len(results))
    return results


def _parse(line: bytes, time_s: float, memory_mb: float) -> PythonResult | None:
    """One result line (None for the `loaded` line). The child ran untrusted code, so a line
    that is not what it should be is a crash, not an exception here."""
    try:
        record = json.loads(line)
        if record.get("loaded") is True:
            return None
        kind, stdout = record["kind"], str(record["stdout"])[: 2 * OUTPUT_LIMIT]
        if kind == "ok":
            return PythonResult.success(json.loads(record["value_json"]), stdout=stdout)
        if kind == "timeout":
            return PythonResult.failure("timeout", time_limit_message(time_s), stdout=stdout)
        if kind == "memory":
            return PythonResult.failure("memory", memory_limit_message(memory_mb), stdout=stdout)
        if kind == "error":
            return PythonResult.failure("error", str(record["error"]), stdout=stdout)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return PythonResult.failure("crash", f"malformed result line: {line[:200]!r}")


def _death(proc: subprocess.Popen[bytes], time_s: float, flooded: bool) -> PythonResult:
    """Why the child stopped answering: it closed the result pipe, or wrote too much to it."""
    returncode = _process.stop(proc, 0.0 if flooded else _GRACE_S)
    if flooded:
        return PythonResult.failure("crash", f"results over {_MAX_RESULT_BYTES >> 20} MiB")
    if returncode == -signal.SIGXCPU:
        return PythonResult.failure("timeout", time_limit_message(time_s))
    if returncode == -signal.SIGKILL:
        return PythonResult.failure("memory", "killed by SIGKILL (out of memory?)")
    return PythonResult.failure("crash", f"the process died ({_process.exit_reason(returncode)})")
