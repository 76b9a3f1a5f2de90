"""`reasonloop up` / `reasonloop.launcher`: servers from one file, health-checked start-up,
stopped together (process groups included), failures named in one line."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from reasonloop.launcher import Launcher, LaunchError, load_launch_config

# A plain gRPC server with the standard health service only: starts in well under a second,
# where a reasonloop server first spends ~20 s importing torch. Used where the launcher's own
# behaviour is tested; the slow tests run the real `reasonloop serve` and `serve-benchmark`.
HEALTH_SERVER = """
import sys
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
server = grpc.server(futures.ThreadPoolExecutor(2))
servicer = health.HealthServicer()
servicer.set("", health_pb2.HealthCheckResponse.SERVING)
health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
server.add_insecure_port("127.0.0.1:" + sys.argv[1])
server.start()
print("listening", flush=True)
server.wait_for_termination()
"""
# Starts a child, ignores SIGTERM (and so does the child: ignored signals are inherited), never
# listens: only a SIGKILL of the whole process group ends both.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print("child", child.pid, flush=True)
time.sleep(120)
"""
REASONLOOP = [sys.executable, "-m", "reasonloop.cli"]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def write_config(path: Path, servers: list[dict]) -> Path:
    """A TOML file of `[[server]]` tables (values: str, int, float, list of str, dict)."""

    def toml(value: object) -> str:
        if isinstance(value, str):
            return json.dumps(value)  # JSON's string escapes are TOML's
        if isinstance(value, list):
            return "[" + ", ".join(toml(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + "}"
        return str(value)

    blocks = [
        "[[server]]\n" + "".join(f"{k} = {toml(v)}\n" for k, v in server.items())
        for server in servers
    ]
    path.write_text("\n".join(blocks))
    return path


def health_server(name: str, port: int, **extra: object) -> dict:
    return {"name": name, "command": [sys.executable, "-c", HEALTH_SERVER, str(port)],
            "port": port, **extra}  # fmt: skip


def test_config_errors_name_the_file_and_the_key(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    bad = write_config(tmp_path / "bad.toml", [{**health_server("a", port), "colour": "red"}])
    with pytest.raises(ValueError, match=r"bad\.toml: server\.0\.colour: Extra inputs"):
        load_launch_config(bad)
    twice = write_config(tmp_path / "twice.toml", [health_server("a", port)] * 2)
    with pytest.raises(ValueError, match=r"twice\.toml: server: two servers have the name a$"):
        load_launch_config(twice)
    relative = write_config(tmp_path / "rel.toml", [health_server("a", port, cwd="sub")])
    assert load_launch_config(relative).server[0].cwd == tmp_path / "sub"


def test_health_checked_start_and_a_server_ending_on_its_own(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    ports = [free_port(), free_port()]
    config = write_config(tmp_path / "up.toml", [health_server("a", ports[0]),
                                                 health_server("b", ports[1])])  # fmt: skip
    with Launcher(config, logs_dir=tmp_path / "logs") as running:
        assert running.addresses == {"a": f"127.0.0.1:{ports[0]}", "b": f"127.0.0.1:{ports[1]}"}
        pids = running.pids
        assert running.wait(timeout_s=0.5) is None
        os.kill(pids["b"], signal.SIGKILL)
        ended = running.wait(timeout_s=10)
        assert ended is not None and ended.name == "b" and ended.returncode == -signal.SIGKILL
        assert "server b was killed by signal 9" in str(ended)
    assert wait_gone(list(pids.values())) == []
    assert (tmp_path / "logs" / "a.log").read_text() == "listening\n"


def test_a_server_that_exits_at_once_is_named_and_the_others_are_stopped(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    config = load_launch_config(write_config(tmp_path / "up.toml", [
        health_server("fine", port),
        {"name": "broken", "port": free_port(),
         "command": [sys.executable, "-c", "import sys; sys.exit('no model named nope')"]},
    ]))  # fmt: skip
    launcher = Launcher(config, logs_dir=tmp_path)
    with pytest.raises(LaunchError) as error:
        launcher.start()
    assert str(error.value) == (
        f"server broken exited with code 1 (log: {tmp_path / 'broken.log'}) before becoming "
        "healthy: no model named nope"
    )
    assert wait_gone(list(launcher.pids.values())) == []


def test_not_healthy_in_time_stops_the_whole_process_group(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    """The server ignores SIGTERM, and so does its child: both are SIGKILLed after the grace."""
    spec = {"name": "mute", "port": free_port(), "command": [sys.executable, "-c", STUBBORN],
            "startup_timeout_s": 2.0, "stop_grace_s": 0.5}  # fmt: skip
    launcher = Launcher(write_config(tmp_path / "up.toml", [spec]), logs_dir=tmp_path)
    with pytest.raises(
        LaunchError, match=r"server mute was not healthy on 127\.0\.0\.1:\d+ within 2 s"
    ):
        launcher.start()
    child = int(re.search(r"child (\d+)", (tmp_path / "mute.log").read_text())[1])
    assert wait_gone([launcher.pids["mute"], child]) == []


def test_start_errors_before_anything_runs(tmp_path: Path, free_port: Callable[[], int]) -> None:
    missing = {"name": "x", "port": free_port(), "command": ["no-such-command-here"]}
    with pytest.raises(LaunchError, match="server x: cannot run 'no-such-command-here'"):
        Launcher(write_config(tmp_path / "a.toml", [missing]), logs_dir=tmp_path).start()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = health_server("busy", taken.getsockname()[1])
        with pytest.raises(LaunchError, match=r"server busy: cannot use .* in use"):
            Launcher(write_config(tmp_path / "b.toml", [busy]), logs_dir=tmp_path).start()


def test_up_cli_start_failure_is_one_error_line_and_exit_2(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    from typer.testing import CliRunner

    from reasonloop.cli import app

    config = write_config(tmp_path / "up.toml", [
        health_server("fine", free_port()),
        {"name": "broken", "port": free_port(), "command": [sys.executable, "-c", "exit(3)"]},
    ])  # fmt: skip
    result = CliRunner().invoke(app, ["up", str(config), "--logs", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: server broken exited with code 3")
    assert result.output.count("\n") == 1, result.output


def run_up(config: Path, logs: Path) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """`reasonloop up` in its own process, once it says all servers are healthy."""
    process = subprocess.Popen(
        [*REASONLOOP, "up", str(config), "--logs", str(logs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "250", "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None and process.stdout is not None
    for line in process.stderr:
        if "all healthy" in line:
            break
    else:
        process.wait()
        pytest.fail(f"up exited with {process.returncode} before its servers were healthy")
    table = ""
    while not table.endswith("┘\n"):  # the table's bottom line: printed before "all healthy"
        table += process.stdout.readline()
    return process, {name: int(pid) for name, pid in re.findall(r"│ (\w+) .*?│ (\d+) ", table)}


def test_up_cli_stops_everything_when_a_server_dies(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    servers = [health_server("a", free_port()), health_server("b", free_port())]
    process, pids = run_up(write_config(tmp_path / "up.toml", servers), tmp_path / "logs")
    try:
        assert sorted(pids) == ["a", "b"]
        os.kill(pids["a"], signal.SIGKILL)
        assert process.wait(timeout=30) == 1
        stderr = process.stderr.read() if process.stderr else ""
        assert stderr.startswith("error: server a was killed by signal 9")
        assert wait_gone(list(pids.values())) == []
    finally:
        process.kill()


@pytest.mark.slow
def test_up_cli_stops_its_real_servers_on_sigterm(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    servers = [{"name": "math", "port": port,
                "command": [*REASONLOOP, "serve-benchmark", "--port", str(port)]}]  # fmt: skip
    process, pids = run_up(write_config(tmp_path / "up.toml", servers), tmp_path / "logs")
    try:
        from reasonloop.rpc import BenchmarkClient

        with BenchmarkClient(f"127.0.0.1:{port}") as client:
            assert client.name == "arithmetic"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert wait_gone([pids["math"]]) == []
    finally:
        process.kill()


@pytest.mark.slow
def test_real_inference_and_benchmark_servers(tmp_path: Path, free_port: Callable[[], int]) -> None:
    from reasonloop.rpc import BenchmarkClient, InferenceClient
    from reasonloop.sampling import SamplingParams

    params = SamplingParams(max_new_tokens=4, ignore_eos=True)

    policy, math = free_port(), free_port()
    config = write_config(tmp_path / "up.toml", [
        {"name": "policy", "port": policy, "env": {"OMP_NUM_THREADS": "1"},
         "command": [*REASONLOOP, "serve", "--model", "tiny-llama", "--port", str(policy)]},
        {"name": "math", "port": math, "auth_token": "s3cret",
         "command": [*REASONLOOP, "serve-benchmark", "--port", str(math)]},
    ])  # fmt: skip
    launcher = Launcher(config, logs_dir=tmp_path / "logs")
    with launcher as running:
        with InferenceClient(running.connection("policy")) as client:
            response = client.generate_response(["2 + 2 ="], params)
        assert response.model == "tiny-llama" and response.usage.completion_tokens == 4
        with BenchmarkClient(running.connection("math")) as benchmark:
            assert benchmark.list_tasks(page_size=5).total_size == 32
        with BenchmarkClient(running.addresses["math"]) as no_token, pytest.raises(grpc.RpcError):
            no_token.list_tasks()
    assert wait_gone(list(launcher.pids.values())) == []
