"""Starting and stopping sandbox processes.

Each child gets its own session (so a Ctrl-C in the terminal reaches only the parent, which
decides what to do) and is stopped by killing its whole process group, so what it started
goes too. The group is killed before the child is reaped: until then its pid, hence the
group id, cannot be reused by an unrelated process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence


def start(
    argv: Sequence[str],
    *,
    pass_fds: Sequence[int],
    env: Mapping[str, str],
    cwd: str | None = None,
    stdin: int = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session; `pass_fds` are the only descriptors it inherits besides
    stdin (stdout and stderr are the parent's stderr and /dev/null: results travel on private
    pipes, so nothing the child prints can be mistaken for one)."""
    return subprocess.Popen(
        list(argv),
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        pass_fds=tuple(pass_fds),
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes], grace_s: float = 0.0) -> int:
    """Give `proc` up to `grace_s` to exit, then SIGKILL its process group; its exit status."""
    if hasattr(os, "waitid"):
        deadline = time.monotonic() + grace_s
        while _running_unreaped(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.005)
    else:  # macOS before Python 3.13: waiting reaps, so the group is only killed if still running
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def _running_unreaped(pid: int) -> bool:
    """Whether `pid` is still running, without reaping it (WNOWAIT)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return info is None


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"
