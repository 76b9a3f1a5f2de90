r"""Run LLM-written Python (standard library only) in a fresh, isolated interpreter.

    result = run_python("def f(x):\n    return x * 2", "f", [21], time_limit_s=1.0)
    result.value  # 42

Every call runs in its own sandbox (`isolation`: bubblewrap namespaces, a seccomp filter, a
read-only view of the interpreter, a 16 MiB tmpfs as /tmp, no network, no other process), in
`python -I -S` (no site-packages: third-party imports fail, on purpose), with a minimal
environment. The child limits itself: address space (headroom, see `limits`), CPU seconds,
file size (1 MiB; larger writes raise OSError), no core dumps. The parent keeps a wall-clock
deadline per call and kills the sandbox when it passes; nothing the call started outlives it.

Arguments and return values are JSON; the source's `if __name__ == "__main__":` block does not
run. A batch runs each of its calls in a sandbox of its own: no call shares a module, a file or
a result channel with another, so no call can change or forge another's result.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonloop.sandbox import _process
from reasonloop.sandbox.isolation import Command, python_command
from reasonloop.sandbox.outcome import (
    Outcome,
    memory_limit_message,
    time_limit_message,
)

_CHILD = Path(__file__).with_name("_python_child.py")
_LIMITS = Path(__file__).with_name("limits.py")
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
    """`function(*args)` for each args in `args_list`, each in a sandbox of its own, one after
    the other; IsolationUnavailable (a SandboxError) if this host cannot isolate the code."""
    calls = _validate(source, function, args_list, time_limit_s, memory_limit_mb)
    return [
        _run_child(source, function, args, float(time_limit_s), float(memory_limit_mb))
        for args in calls
    ]


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


def _run_child(
    source: str, function: str, args: list[Any], time_s: float, memory_mb: float
) -> PythonResult:
    request = {
        "source": source,
        "function": function,
        "args": args,
        "time_limit_s": time_s,
        "memory_limit_mb": memory_mb,
        "output_limit": OUTPUT_LIMIT,
        "file_limit_bytes": FILE_LIMIT_BYTES,
    }
    with tempfile.TemporaryFile() as request_file:  # as stdin: no blocking write to a pipe
        request_file.write(json.dumps(request).encode())
        request_file.seek(0)
        read_fd, write_fd = os.pipe()
        try:
            with python_command(_CHILD, [_LIMITS], [str(write_fd)]) as command:
                proc = _process.start(
                    command.argv,
                    pass_fds=(write_fd, *command.pass_fds),
                    env=command.env,
                    cwd=command.cwd,
                    stdin=request_file.fileno(),
                )
                os.close(write_fd)
                write_fd = -1
                try:
                    return _collect(proc, command, read_fd, time_s, memory_mb)
                finally:
                    _process.stop(proc)  # with bwrap, the sandbox and all in it go too
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)


def _collect(
    proc: subprocess.Popen[bytes], command: Command, read_fd: int, time_s: float, memory_mb: float
) -> PythonResult:
    """The call's result: its second line (the first says the source has loaded, which starts
    the call's own deadline; only once, so no code can push its deadline back)."""
    buffer = bytearray()
    loaded = False
    deadline = time.monotonic() + _START_SLACK_S + time_s + _GRACE_S
    with selectors.DefaultSelector() as selector:
        selector.register(read_fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _process.stop(proc)
                return PythonResult.failure("timeout", time_limit_message(time_s))
            if not selector.select(remaining):
                continue
            data = os.read(read_fd, _READ_SIZE)
            if not data or len(buffer) + len(data) > _MAX_RESULT_BYTES:
                return _death(proc, command, time_s, flooded=bool(data))
            scanned = len(buffer)  # no newline before: search the new bytes only
            buffer += data
            while (end := buffer.find(b"\n", scanned)) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                scanned = 0
                record = _parse(line, time_s, memory_mb, loaded)
                if record is not None:
                    return record
                loaded = True
                deadline = time.monotonic() + time_s + _GRACE_S


def _parse(line: bytes, time_s: float, memory_mb: float, loaded: bool) -> PythonResult | None:
    """One result line (None for the first `loaded` line). The child ran untrusted code, so a
    line that is not what it should be is a crash, not an exception here."""
    try:
        record = json.loads(line)
        if record.get("loaded") is True and not loaded:
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


def _death(
    proc: subprocess.Popen[bytes], command: Command, time_s: float, *, flooded: bool
) -> PythonResult:
    """Why the child stopped answering: it closed the result pipe, or wrote too much to it."""
    returncode = command.exit_status(_process.stop(proc, 0.0 if flooded else _GRACE_S))
    if flooded:
        return PythonResult.failure("crash", f"results over {_MAX_RESULT_BYTES >> 20} MiB")
    if returncode == -signal.SIGXCPU:
        return PythonResult.failure("timeout", time_limit_message(time_s))
    if returncode == -signal.SIGKILL:
        return PythonResult.failure("memory", "killed by SIGKILL (out of memory?)")
    return PythonResult.failure("crash", f"the process died ({_process.exit_reason(returncode)})")
