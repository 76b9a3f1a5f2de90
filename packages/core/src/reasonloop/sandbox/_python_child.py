"""The child process of `run_python`: run LLM-written source under limits, answer in JSON lines.

Started as `python -I -S _python_child.py RESULT_FD` (isolated mode: no site-packages, no
PYTHON* variables, no script directory on sys.path), in the sandbox of `isolation` (or, where
the user opted out of it, in an empty temporary directory). Standard library only: this file
and limits.py (loaded by path) are all it imports of ours.

stdin holds one JSON request: {"source", "function", "args", "time_limit_s", "memory_limit_mb",
"output_limit", "file_limit_bytes"}: one call, so a call's code never shares a process, a
module or a result channel with another call's. RESULT_FD receives `{"loaded": true}` once the
source has run, then the call's line: {"kind", "value_json" or "error", "stdout"} (if the
source itself fails, its failure is that line). What the code prints (sys.stdout and
sys.stderr) is kept, bounded; the real descriptors 0-2 are /dev/null.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

SOURCE_NAME = "<source>"
MAX_ERROR_CHARS = 2000


def load_limits() -> ModuleType:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "limits.py")
    spec = importlib.util.spec_from_file_location("_sandbox_limits", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BoundedOutput(io.TextIOBase):
    """Keeps the first `limit` characters written, counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = max(0, self.limit - self.kept)
        self.parts.append(text[:room])
        self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - room)
        return len(text)

    def text(self) -> str:
        kept = "".join(self.parts)
        return f"{kept}\n[... {self.dropped} more characters]" if self.dropped else kept


def describe(exc: BaseException, lines: list[str]) -> str:
    """Type and message, plus the last line of the source the traceback passed through."""
    if isinstance(exc, SyntaxError) and exc.filename == SOURCE_NAME:
        text = f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ours = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == SOURCE_NAME]
        if ours and ours[-1].lineno is not None and 0 < ours[-1].lineno <= len(lines):
            text += f" (line {ours[-1].lineno}: {lines[ours[-1].lineno - 1].strip()})"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 15] + " … [trimmed]"


def failure(exc: BaseException, limits: ModuleType, lines: list[str]) -> dict[str, Any]:
    if isinstance(exc, limits.TimeLimitExceeded):
        return {"kind": "timeout"}
    if isinstance(exc, MemoryError):
        return {"kind": "memory"}
    return {"kind": "error", "error": describe(exc, lines)}


def timed(watchdog: Any, run: Callable[[], Any]) -> Any:
    """`run()` under the watchdog's time limit."""
    watchdog.started = time.monotonic()
    try:
        return run()
    finally:
        watchdog.started = None


def call(
    function: Any, args: list[Any], watchdog: Any, limits: ModuleType, lines: list[str]
) -> dict[str, Any]:
    try:
        value = timed(watchdog, lambda: function(*args))
        try:  # under the limit too: serializing may run code of the value's types
            value_json = timed(watchdog, lambda: json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as exc:
            message = f"TypeError: the return value is not JSON-serializable ({exc})"
            return {"kind": "error", "error": message}
    except BaseException as exc:
        return failure(exc, limits, lines)
    return {"kind": "ok", "value_json": value_json}


def main() -> None:
    results = os.fdopen(int(sys.argv[1]), "w", encoding="utf-8")
    request = json.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)

    def emit(record: dict[str, Any]) -> None:
        results.write(json.dumps(record) + "\n")
        results.flush()

    limits = load_limits()
    time_s = request["time_limit_s"]
    limits.no_core_dumps()
    limits.limit_file_size(request["file_limit_bytes"])
    limits.forbid_new_processes()
    limits.limit_cpu_seconds(time_s * 2 + 2)
    watchdog = limits.Watchdog(time_s)
    limits.limit_memory(request["memory_limit_mb"])

    source, name, limit = request["source"], request["function"], request["output_limit"]
    lines = source.splitlines()
    sys.stdout = sys.stderr = output = BoundedOutput(limit)
    namespace: dict[str, Any] = {"__name__": "__sandbox__"}  # `if __name__ == "__main__"` skipped
    with watchdog.ticking():
        try:
            timed(watchdog, lambda: exec(compile(source, SOURCE_NAME, "exec"), namespace))
            function = namespace.get(name)
            if not callable(function):
                raise NameError(f"the source defines no function {name!r}")
        except BaseException as exc:
            emit({**failure(exc, limits, lines), "stdout": output.text()})
            return
        emit({"loaded": True})
        record = call(function, request["args"], watchdog, limits, lines)
        emit({**record, "stdout": output.text()})


if __name__ == "__main__":
    main()
