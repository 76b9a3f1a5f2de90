"""OS isolation for Python we did not write: a bubblewrap sandbox with a seccomp filter.

`run_python` starts every call in a sandbox built by bubblewrap (`bwrap`, the namespace tool
Flatpak runs on), with a seccomp filter compiled by libseccomp (as Flatpak does too):

- its own PID, network, IPC, UTS, cgroup and user namespaces: no process outside is visible or
  signalable, no network but a private loopback, and no user namespace can be created inside
  (`--disable-userns`);
- a read-only view of only what the interpreter needs (its executable, libpython, the standard
  library with site-packages masked, the shared libraries, our child script), a new `/proc` of
  the sandbox's own processes and a minimal `/dev`; `/tmp` is the one writable directory, a
  tmpfs of WRITABLE_BYTES, and the cwd, HOME and TMPDIR;
- uid 65534 with no capabilities, and a filter that refuses fork, clone (processes and threads),
  unshare, setns, mount, ptrace and io_uring: the process count is capped at one, for root too
  (RLIMIT_NPROC does not bind uid 0);
- `--die-with-parent`: when the caller stops bwrap, the PID namespace goes, with every process.

Where isolation is unavailable (no bwrap, an old one, user namespaces disabled) calls raise
IsolationUnavailable with the fix, unless REASONLOOP_UNSAFE_NO_SANDBOX=1: then the code runs
as a plain subprocess with rlimits only, after an UnsafeSandboxWarning. REASONLOOP_BWRAP names
the bwrap binary (default: the one on PATH).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from reasonloop.sandbox.outcome import SandboxError

UNSAFE_ENV = "REASONLOOP_UNSAFE_NO_SANDBOX"
BWRAP_ENV = "REASONLOOP_BWRAP"
WRITABLE_DIR = "/tmp"
WRITABLE_BYTES = 16 << 20
FILES_DIR = "/sandbox"  # where the files a command needs (our child script) appear
SANDBOX_UID = 65534
_PROBE_TIMEOUT_S = 30.0
_INSTALL_HINT = (
    "install bubblewrap >= 0.8 (Debian/Ubuntu: apt-get install bubblewrap) with user namespaces "
    "enabled, or set REASONLOOP_UNSAFE_NO_SANDBOX=1 (benchagents --unsafe-no-sandbox) to run "
    "untrusted code WITHOUT isolation"
)
_REFUSED_EAGAIN = ("fork", "vfork", "clone")
_REFUSED_EPERM = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "keyctl",
    "add_key",
    "request_key",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsmount",
    "fspick",
    "mount_setattr",
)
_LIBRARY_DIRS = ("/lib", "/lib32", "/lib64", "/libx32", "/usr/lib", "/usr/lib32", "/usr/lib64")


class IsolationUnavailable(SandboxError):
    """This host cannot isolate untrusted code (`reason`) and the user has not opted out."""

    def __init__(self, reason: str, fix: str = _INSTALL_HINT) -> None:
        super().__init__(f"cannot isolate untrusted code: {reason}; {fix}")
        self.reason = reason


class UnsafeSandboxWarning(RuntimeWarning):
    """Untrusted code is running without OS isolation, because the user said so."""


@dataclass(frozen=True)
class Command:
    """How to start a Python script: the argv, its environment and cwd, the descriptors it
    needs besides the caller's own, and whether it runs in the sandbox."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    pass_fds: tuple[int, ...]
    isolated: bool

    def exit_status(self, returncode: int) -> int:
        """The script's own status: -N if a signal N killed it (bwrap reports 128 + N)."""
        if self.isolated and 128 < returncode < 128 + 65:
            return -(returncode - 128)
        return returncode


def unsafe_opted_in() -> bool:
    return os.environ.get(UNSAFE_ENV, "").strip().lower() in ("1", "true", "yes")


def require_isolation() -> bool:
    """Whether untrusted code will run isolated: True, or False (after an UnsafeSandboxWarning)
    if isolation is unavailable and the user opted out; else IsolationUnavailable."""
    try:
        _check(_bwrap_path())
    except IsolationUnavailable as error:
        if not unsafe_opted_in():
            raise
        warnings.warn(
            f"running untrusted code WITHOUT OS isolation ({UNSAFE_ENV}=1): {error.reason}",
            UnsafeSandboxWarning,
            stacklevel=2,
        )
        return False
    return True


@contextlib.contextmanager
def python_command(script: Path, files: Sequence[Path], args: Sequence[str]) -> Iterator[Command]:
    """`python -I -S script *args` in the sandbox, or a plain subprocess where isolation is
    unavailable and the user opted out (see `require_isolation`). `files` (with `script`, each
    by its name in one directory) are all the script may read of ours."""
    if not require_isolation():
        with tempfile.TemporaryDirectory(
            prefix="reasonloop-sandbox-", ignore_cleanup_errors=True
        ) as workdir:
            env = {"PATH": os.defpath, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
            yield Command([sys.executable, "-I", "-S", str(script), *args], env, workdir, (), False)
        return
    with _seccomp_fd() as seccomp_fd:
        binds = [(str(path), f"{FILES_DIR}/{path.name}") for path in (script, *files)]
        python = [_interpreter(), "-I", "-S", f"{FILES_DIR}/{script.name}", *args]
        argv = _bwrap_argv(_bwrap_path(), binds, seccomp_fd, python)
        env = {"PATH": "/usr/bin:/bin", "HOME": WRITABLE_DIR, "TMPDIR": WRITABLE_DIR}
        yield Command(argv, {**env, "LANG": "C.UTF-8"}, "/", (seccomp_fd,), True)


def _bwrap_path() -> str:
    configured = os.environ.get(BWRAP_ENV)
    path = configured or shutil.which("bwrap")
    if path is None or not os.access(path, os.X_OK):
        if configured:
            raise IsolationUnavailable(f"{BWRAP_ENV}={configured} is not an executable")
        raise IsolationUnavailable("no bwrap on PATH")
    return path


def _interpreter() -> str:
    """The real interpreter (a venv's python is a link to it, or a copy that finds the
    standard library through pyvenv.cfg, which the sandbox does not show)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _base_paths() -> dict[str, str]:
    """The base interpreter's install paths (in a venv, platstdlib would be the venv's)."""
    base, platbase = sys.base_prefix, sys.base_exec_prefix
    names = {"base": base, "installed_base": base, "platbase": platbase}
    return sysconfig.get_paths(vars={**names, "installed_platbase": platbase})


def _python_binds() -> list[tuple[str, str]]:
    """The interpreter, libpython and the standard library, each at its own path."""
    paths = [_interpreter(), _base_paths()["stdlib"], _base_paths()["platstdlib"]]
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and soname:
        paths.append(os.path.join(libdir, soname))
    found = [os.path.realpath(p) for p in paths if p and os.path.exists(p)]
    return [(path, path) for path in dict.fromkeys(found)]


def _bwrap_argv(
    bwrap: str, binds: Sequence[tuple[str, str]], seccomp_fd: int, command: Sequence[str]
) -> list[str]:
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
    argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for path in _LIBRARY_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    python = _python_binds()
    for source, target in [*python, *binds]:
        argv += ["--ro-bind", source, target]
    paths = _base_paths()
    for site_packages in dict.fromkeys(os.path.realpath(paths[k]) for k in ("purelib", "platlib")):
        if any(site_packages.startswith(f"{source}/") for source, _ in python):
            # the base interpreter's packages, inside its standard library: not ours to show
            argv += ["--tmpfs", site_packages, "--remount-ro", site_packages]
    argv += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]  # /dev/shm: no tmpfs
    argv += ["--size", str(WRITABLE_BYTES), "--perms", "1777", "--tmpfs", WRITABLE_DIR]
    argv += ["--remount-ro", "/", "--chdir", WRITABLE_DIR, "--seccomp", str(seccomp_fd)]
    return [*argv, "--", *command]


@functools.cache
def _seccomp_program() -> bytes:
    """The filter as BPF: the calls above fail with an errno, everything else is allowed; a
    system call of another architecture's ABI kills (libseccomp's default)."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError, RuntimeError) as error:  # the last two: no libseccomp.so.2
        raise IsolationUnavailable(
            f"libseccomp is unavailable ({error})",
            "install libseccomp2 (apt-get install libseccomp2) and pyseccomp, or set "
            f"{UNSAFE_ENV}=1 to run untrusted code WITHOUT isolation",
        ) from None
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in _REFUSED_EAGAIN:
        rules.add_rule(seccomp.ERRNO(errno.EAGAIN), name)
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # flags unreadable: libc falls back
    for name in _REFUSED_EPERM:
        rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)
        out.seek(0)
        return out.read()


@contextlib.contextmanager
def _seccomp_fd() -> Iterator[int]:
    """A descriptor bwrap reads the filter from (its own: bwrap reads to the end)."""
    fd = os.memfd_create("reasonloop-seccomp", 0)  # not close-on-exec: bwrap inherits it
    try:
        os.write(fd, _seccomp_program())
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


@functools.cache
def _check(bwrap: str) -> None:
    """Start one empty sandbox with this bwrap (once per process); IsolationUnavailable with
    bwrap's own complaint if it cannot."""
    with _seccomp_fd() as seccomp_fd:
        argv = _bwrap_argv(bwrap, [], seccomp_fd, [_interpreter(), "-I", "-S", "-c", "pass"])
        try:
            probe = subprocess.run(
                argv,
                pass_fds=(seccomp_fd,),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_PROBE_TIMEOUT_S,
                env={"PATH": "/usr/bin:/bin"},
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            reason = str(error)
        else:
            if probe.returncode == 0:
                return
            lines = probe.stderr.decode(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit code {probe.returncode}"
    raise IsolationUnavailable(f"{bwrap} fails to start a sandbox ({reason})")
