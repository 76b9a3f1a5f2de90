"""run_python against code that attacks its host: each attack of issue 13, contained by the
bubblewrap + seccomp sandbox (real bwrap, real processes, real sockets).

The `control_` tests run the same probes without the sandbox (bwrap pointed at a missing path,
plus the explicit opt-out) and see them succeed: the probes do detect what they look for.
Destructive attacks (kill every process, fork bomb) never run without the sandbox: an autouse
fixture removes the opt-out, so a host without isolation fails those tests instead.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reasonloop.sandbox import (
    IsolationUnavailable,
    SandboxError,
    UnsafeSandboxWarning,
    run_python,
    run_python_batch,
)
from reasonloop.sandbox.isolation import BWRAP_ENV, UNSAFE_ENV, WRITABLE_BYTES

ROOT = os.geteuid() == 0


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture(autouse=True)
def isolation_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    monkeypatch.delenv(BWRAP_ENV, raising=False)


@pytest.fixture
def unsandboxed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's plain subprocess, as a host without bwrap runs it after the opt-out."""
    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    monkeypatch.setenv(UNSAFE_ENV, "1")


def processes_with(token: str) -> list[int]:
    """Host processes whose command line holds `token`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# ---- what a checker normally does still works ----------------------------------------------

CHECKER = src("""
    import json, re, collections, datetime, math, tempfile

    def check(instance, answer):
        words = re.findall(r"[a-z]+", answer.lower())
        counts = collections.Counter(words)
        with tempfile.TemporaryFile() as scratch:  # the writable /tmp
            scratch.write(json.dumps(counts).encode())
            scratch.seek(0)
            kept = json.loads(scratch.read())
        day = datetime.date(2024, 1, 1) + datetime.timedelta(days=instance["days"])
        return [
            ["has_word", instance["word"] in kept, f"{kept.get(instance['word'], 0)} times"],
            ["date", day.isoformat() in answer, day.isoformat()],
            ["root", str(math.isqrt(instance["days"])) in answer, "isqrt"],
        ]
""")


def test_a_normal_checker_works_in_the_sandbox() -> None:
    instance = {"word": "meeting", "days": 16}
    good, bad = run_python_batch(
        CHECKER, "check", [[instance, "Meeting on 2024-01-17, root 4"], [instance, "no"]]
    )
    assert good.value == [
        ["has_word", True, "1 times"],
        ["date", True, "2024-01-17"],
        ["root", True, "isqrt"],
    ]
    assert [check[1] for check in bad.value] == [False, False, False]


# ---- the parent's environment and memory -----------------------------------------------------

SCAN = src("""
    import os

    def chunks(mem, regions, overlap):
        # the writable memory of a process, 16 MiB at a time
        for span, perms in regions:
            start, end = (int(x, 16) for x in span.split("-"))
            for at in range(start, end, 16 << 20) if perms.startswith("rw") else ():
                try:
                    mem.seek(at)
                    yield mem.read(min(end, at + (16 << 20) + overlap) - at)
                except (OSError, ValueError, OverflowError):
                    break

    def scan(parts, parent_only):
        needle = "".join(reversed(parts)).encode()  # so the needle is in no argv or request
        me, found, seen = os.getpid(), [], {}
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            if pid == me or (parent_only and pid != os.getppid()):
                continue
            try:
                seen[pid] = open(f"/proc/{pid}/cmdline", "rb").read()[:300].decode("latin-1")
                if needle in open(f"/proc/{pid}/environ", "rb").read():
                    found.append(f"{pid} environ")
                with open(f"/proc/{pid}/maps") as maps:
                    regions = [line.split()[:2] for line in maps]
                with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
                    if any(needle in chunk for chunk in chunks(mem, regions, len(needle))):
                        found.append(f"{pid} mem")
            except OSError as error:
                seen.setdefault(pid, f"{type(error).__name__}")
        return {"ppid": os.getppid(), "found": found, "seen": seen}
""")


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An API key set at run time: in this process's environment and heap."""
    value = "sk-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", value)
    yield value


def test_parent_environment_and_memory_are_out_of_reach(secret: str) -> None:
    parts = [secret[i : i + 5] for i in range(0, len(secret), 5)][::-1]
    report = run_python(SCAN, "scan", [parts, False], time_limit_s=20).value
    assert report["found"] == []
    # only the sandbox's own init (bwrap) is there: not pytest, not the host's processes
    assert report["ppid"] == 1 and list(report["seen"]) == ["1"]
    assert "bwrap" in report["seen"]["1"] and "pytest" not in str(report["seen"])


@pytest.mark.skipif(not ROOT, reason="reading another process's memory needs root unsandboxed")
def test_control_without_the_sandbox_the_scan_finds_the_key(secret: str, unsandboxed) -> None:
    parts = [secret[i : i + 5] for i in range(0, len(secret), 5)][::-1]
    with pytest.warns(UnsafeSandboxWarning):
        report = run_python(SCAN, "scan", [parts, True], time_limit_s=60).value
    assert f"{os.getpid()} mem" in report["found"]


# ---- files: system, home, the host's /tmp, the disk --------------------------------------------

FILES = src("""
    import os

    def probe(home, host_dir, package_file, system):
        def attempt(name, action):
            try:
                action()
                results[name] = "done"
            except OSError as error:
                results[name] = f"{type(error).__name__}: {error.strerror}"

        def write(path):
            with open(path, "w") as f:
                f.write("owned")

        results = {}
        attempt("read /etc/shadow", lambda: open("/etc/shadow").read())
        try:
            results["list home"] = sorted(os.listdir(home))
        except OSError as error:
            results["list home"] = error.strerror
        attempt("write home", lambda: write(os.path.join(home, ".reasonloop-sandbox-probe")))
        attempt("read host file", lambda: open(os.path.join(host_dir, "marker")).read())
        attempt("write host dir", lambda: write(os.path.join(host_dir, "written")))
        attempt("delete host file", lambda: os.remove(os.path.join(host_dir, "marker")))
        attempt("read an installed package", lambda: open(package_file).read())
        if system:  # never unsandboxed: these would write into the host's system files
            attempt("write /", lambda: write("/owned"))
            attempt("write /dev", lambda: write("/dev/owned"))
            attempt("write /dev/shm", lambda: write("/dev/shm/owned"))
            attempt("write the stdlib", lambda: write(os.__file__))
        return results
""")


def test_system_home_and_host_files_are_out_of_reach(tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("host data")
    home = Path.home()
    args = [str(home), str(tmp_path), pytest.__file__, True]
    results = run_python(FILES, "probe", args, time_limit_s=5).value
    assert all(outcome != "done" for outcome in results.values()), results
    # the real home is not there; at most the way to the interpreter (pyenv keeps it in home)
    interpreter = os.path.realpath(sys.executable)
    assert all(interpreter.startswith(f"{home}/{name}/") for name in results["list home"])
    assert results["read /etc/shadow"].startswith("FileNotFoundError")
    assert results["write /"].endswith("Read-only file system")
    assert results["write the stdlib"].endswith("Read-only file system")
    assert results["write /dev/shm"].endswith("Read-only file system")
    assert results["read an installed package"].startswith("FileNotFoundError")
    assert (tmp_path / "marker").read_text() == "host data"
    assert not (tmp_path / "written").exists()
    assert not (home / ".reasonloop-sandbox-probe").exists()


def test_control_without_the_sandbox_host_files_are_reachable(tmp_path: Path, unsandboxed) -> None:
    (tmp_path / "marker").write_text("host data")
    with pytest.warns(UnsafeSandboxWarning):
        args = ["/nonexistent", str(tmp_path), pytest.__file__, False]
        results = run_python(FILES, "probe", args).value
    assert results["read host file"] == results["write host dir"] == "done"
    assert results["read an installed package"] == "done" and "write /" not in results
    assert results["delete host file"] == "done" and not (tmp_path / "marker").exists()


def test_filling_the_disk_stops_at_the_sandbox_tmpfs() -> None:
    code = src("""
        import os

        def fill():
            written, error = 0, None
            chunk = b"x" * (1 << 20)  # the largest file run_python allows
            try:
                for i in range(1000):
                    with open(f"fill-{i}", "wb") as f:
                        f.write(chunk)
                    written += len(chunk)
            except OSError as exc:
                error = exc.strerror
            return {"cwd": os.getcwd(), "written": written, "error": error}
    """)
    report = run_python(code, "fill", [], time_limit_s=10).value
    assert report["error"] == "No space left on device"
    assert WRITABLE_BYTES - (2 << 20) <= report["written"] <= WRITABLE_BYTES
    assert not Path(report["cwd"], "fill-0").exists()  # the host's own /tmp has none of it


# ---- the network -------------------------------------------------------------------------

CONNECT = src("""
    import socket

    def connect(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"exfiltrated")
            return "sent"
        except OSError as error:
            return f"{type(error).__name__}: {error}"
""")


@pytest.fixture
def host_server() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.5)
        yield server


def test_no_connection_to_the_host(host_server: socket.socket) -> None:
    outcome = run_python(CONNECT, "connect", [host_server.getsockname()[1]]).value
    assert outcome.startswith("ConnectionRefusedError")  # nothing listens in its own network
    with pytest.raises(TimeoutError):
        host_server.accept()


def test_control_without_the_sandbox_the_host_is_reached(host_server, unsandboxed) -> None:
    with pytest.warns(UnsafeSandboxWarning):
        outcome = run_python(CONNECT, "connect", [host_server.getsockname()[1]]).value
    assert outcome == "sent"
    connection, _ = host_server.accept()
    with connection:
        assert connection.recv(64) == b"exfiltrated"


def test_a_listening_socket_is_unreachable_from_the_host(free_port: Callable[[], int]) -> None:
    code = src("""
        import socket, time

        def listen(port):
            server = socket.create_server(("0.0.0.0", port))
            server.settimeout(0.05)
            opened, accepted = time.time(), 0
            while time.time() - opened < 2:
                try:
                    server.accept()[0].close()
                    accepted += 1
                except TimeoutError:
                    pass
            interfaces = [name for _, name in socket.if_nameindex()]
            return {"window": [opened, time.time()], "accepted": accepted, "if": interfaces}
    """)
    port = free_port()
    attempts: list[tuple[float, bool]] = []
    done = threading.Event()

    def knock() -> None:
        while not done.is_set():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                attempts.append((time.time(), True))
            except OSError:
                attempts.append((time.time(), False))
            time.sleep(0.02)

    knocker = threading.Thread(target=knock)
    knocker.start()
    try:
        report = run_python(code, "listen", [port], time_limit_s=10).value
    finally:
        done.set()
        knocker.join()
    start, end = report["window"]
    assert report["accepted"] == 0 and report["if"] == ["lo"]
    assert not any(ok for _, ok in attempts)
    assert any(start <= at <= end for at, _ in attempts)  # knocked while it listened


# ---- processes ---------------------------------------------------------------------------

FORK_BOMB = src("""
    import ctypes, os, subprocess, threading

    def bomb():
        libc = ctypes.CDLL(None, use_errno=True)
        made, errors = 0, set()
        for _ in range(50):
            try:
                if os.fork() == 0:
                    os._exit(0)
                made += 1
            except OSError as error:
                errors.add(error.strerror)
        if libc.fork() >= 0:  # straight into libc: the same refusal
            made += 1
        errors.add(os.strerror(ctypes.get_errno()))
        for start in (lambda: subprocess.Popen(["/bin/true"]),
                      lambda: threading.Thread(target=print).start()):
            try:
                start()
                made += 1
            except (OSError, RuntimeError) as error:
                errors.add(str(error))
        return {"made": made, "errors": sorted(errors)}
""")


def test_fork_bomb_is_refused_even_for_root() -> None:
    report = run_python(FORK_BOMB, "bomb", [], time_limit_s=10).value
    assert report["made"] == 0
    assert "Resource temporarily unavailable" in report["errors"]
    assert "can't start new thread" in report["errors"]


ESCAPE = src("""
    import os, subprocess, sys

    def escape(token):
        sleeper = [sys.executable, "-c", "import time; time.sleep(30)", token]
        started = []
        try:
            if os.fork() == 0:
                os.setsid()
                os.execv(sys.executable, sleeper)
            started.append("fork+setsid")
        except OSError as error:
            started.append(error.strerror)
        try:
            subprocess.Popen(sleeper, start_new_session=True)
            started.append("Popen(start_new_session=True)")
        except OSError as error:
            started.append(error.strerror)
        return started
""")


def wait_gone(token: str, timeout_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_with(token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_no_process_outlives_the_call() -> None:
    token = f"reasonloop-escape-{secrets.token_hex(8)}"
    started = run_python(ESCAPE, "escape", [token], time_limit_s=5).value
    assert started == ["Resource temporarily unavailable"] * 2
    assert wait_gone(token) == []


@pytest.mark.skipif(not ROOT, reason="RLIMIT_NPROC stops the fork of a non-root user unsandboxed")
def test_control_without_the_sandbox_processes_escape(unsandboxed) -> None:
    token = f"reasonloop-escape-{secrets.token_hex(8)}"
    try:
        with pytest.warns(UnsafeSandboxWarning):
            started = run_python(ESCAPE, "escape", [token], time_limit_s=5).value
        assert started == ["fork+setsid", "Popen(start_new_session=True)"]
        time.sleep(0.5)
        assert len(processes_with(token)) == 2
    finally:
        for pid in processes_with(token):
            os.kill(pid, signal.SIGKILL)


def test_unrelated_processes_cannot_be_signalled() -> None:
    code = src("""
        import ctypes, os, signal

        def kill_all(pid):
            libc = ctypes.CDLL(None, use_errno=True)
            outcomes = {"kill(-1)": libc.kill(-1, signal.SIGKILL)}
            for name, target in (("kill(pid)", pid), ("killpg(pid)", -pid)):
                try:
                    os.kill(target, signal.SIGKILL)
                    outcomes[name] = "sent"
                except OSError as error:
                    outcomes[name] = error.strerror
            outcomes["visible"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
            return outcomes
    """)
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        outcomes = run_python(code, "kill_all", [sleeper.pid], time_limit_s=5).value
        time.sleep(0.2)
        assert sleeper.poll() is None  # still running
        assert outcomes["kill(pid)"] == outcomes["killpg(pid)"] == "No such process"
        assert outcomes["visible"] == [1, 2]  # bwrap's init and the code itself
    finally:
        sleeper.kill()
        sleeper.wait()


def test_namespace_and_kernel_escape_calls_are_refused() -> None:
    code = src("""
        import ctypes

        def escape():
            libc = ctypes.CDLL(None, use_errno=True)
            calls = {
                "unshare(user|mount)": lambda: libc.unshare(0x10000000 | 0x00020000),
                "mount tmpfs": lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None),
                "ptrace attach 1": lambda: libc.ptrace(16, 1, None, None),
                "chroot": lambda: libc.chroot(b"/tmp"),
            }
            outcomes = {}
            for name, call in calls.items():
                ctypes.set_errno(0)
                outcomes[name] = [call(), ctypes.get_errno()]
            return outcomes
    """)
    outcomes = run_python(code, "escape", [], time_limit_s=5).value
    assert {name: result for name, (result, _) in outcomes.items()} == dict.fromkeys(outcomes, -1)
    assert all(err == 1 for _, err in outcomes.values()), outcomes  # EPERM


# ---- a batch: one call cannot forge another's result -------------------------------------


def test_a_call_cannot_forge_the_results_of_later_calls() -> None:
    code = src("""
        import json, os

        def grade(i):
            if i == 0:
                forged = json.dumps({"kind": "ok", "value_json": "666", "stdout": ""}) + "\\n"
                for fd in range(3, 256):
                    try:
                        os.write(fd, forged.encode() * 4)
                    except OSError:
                        pass
                with open("/tmp/forged", "w") as f:
                    f.write("666")
            return f"honest {i}, saw forged file: {os.path.exists('/tmp/forged')}"
    """)
    results = run_python_batch(code, "grade", [[0], [1], [2]], time_limit_s=5)
    assert results[0].value == 666  # it reached its own result channel only
    assert [r.value for r in results[1:]] == [
        "honest 1, saw forged file: False",
        "honest 2, saw forged file: False",
    ]


def test_a_call_cannot_extend_its_own_deadline() -> None:
    code = src("""
        import os, signal, sys, time

        def stall():
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            for _ in range(100):  # "the source has loaded", again and again
                os.write(int(sys.argv[1]), b'{"loaded": true}\\n')
                time.sleep(0.1)
    """)
    started = time.monotonic()
    result = run_python(code, "stall", [], time_limit_s=0.5)
    assert result.kind == "crash" and result.error.startswith("malformed result line")
    assert time.monotonic() - started < 5  # not the 10 s the code asked for


# ---- no isolation: refuse, unless opted out ----------------------------------------------


def test_without_bwrap_run_python_refuses_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    with pytest.raises(IsolationUnavailable) as refused:
        run_python("def f():\n    return 1\n", "f", [])
    message = str(refused.value)
    assert "\n" not in message and isinstance(refused.value, SandboxError)
    assert f"{BWRAP_ENV}=/nonexistent/bwrap is not an executable" in message
    assert "apt-get install bubblewrap" in message and f"{UNSAFE_ENV}=1" in message


def test_a_bwrap_that_cannot_sandbox_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BWRAP_ENV, "/bin/false")  # runs, but starts no sandbox
    with pytest.raises(IsolationUnavailable, match=r"/bin/false fails to start a sandbox"):
        run_python_batch("def f():\n    return 1\n", "f", [[]])


def test_the_opt_out_runs_unisolated_with_a_loud_warning(unsandboxed) -> None:
    code = "import os\ndef f():\n    return [os.getuid(), os.getppid()]\n"
    with pytest.warns(UnsafeSandboxWarning, match=r"WITHOUT OS isolation .*=1\): .* not an exec"):
        uid, ppid = run_python(code, "f", []).value
    assert [uid, ppid] == [os.getuid(), os.getpid()]  # a plain child of this process


def test_the_sandbox_runs_as_an_unprivileged_user() -> None:
    code = "import os\ndef f():\n    return [os.getuid(), os.getgid(), os.getppid()]\n"
    assert run_python(code, "f", []).value == [65534, 65534, 1]


# ---- the benchagents CLI: refuse in one line, or run after --unsafe-no-sandbox -------------

DRAFT = Path(__file__).parents[1] / "benchagents" / "drafts" / "addition"  # hand-written code
CREATE = ["create", "described", "--draft", str(DRAFT), "--auto", "--backend", "tiny-llama"]


def test_benchagents_refuses_described_code_without_isolation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from benchagents.cli import app

    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    result = CliRunner().invoke(app, [*CREATE, "--run-dir", str(tmp_path / "run")])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1
    assert errors[0].startswith("error: cannot isolate untrusted code: REASONLOOP_BWRAP=")
    assert not (tmp_path / "run").exists()  # refused before anything ran


def test_benchagents_unsafe_no_sandbox_runs_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from benchagents.cli import app

    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    run = tmp_path / "run"
    args = [*CREATE, "--run-dir", str(run), "--stop-after", "generation", "--count", "2"]
    result = CliRunner().invoke(app, [*args, "--no-rewrite", "--unsafe-no-sandbox"])
    assert result.exit_code == 0, result.output
    assert "WARNING: running untrusted code WITHOUT OS isolation" in result.output
    generated = (run / "instances" / "raw.jsonl").read_text().splitlines()  # by the draft's code
    assert len(generated) == 2 and all('"What is' in line for line in generated)
