"""Start a set of gRPC servers from one config file, health-checked, and stop them together
(`reasonloop up`, and tests that need several real servers).

Each server runs in its own session (process group): stopping it also stops whatever it
started, and a Ctrl-C in the terminal reaches the launcher only, which then stops every server
the same way: SIGTERM (servers drain their in-flight calls), then SIGKILL after a grace period.
A server counts as up once the standard gRPC health check on its port answers SERVING.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from reasonloop.configfile import ConfigSection, load_config_file

if TYPE_CHECKING:
    from reasonloop.rpc import Connection

DEFAULT_LOGS_DIR = Path(".reasonloop-up")
AUTH_TOKEN_ENV = "REASONLOOP_AUTH_TOKEN"  # what `reasonloop serve` and co. read their token from
POLL_S = 0.2
LOG_TAIL_BYTES = 16_384


class ServerSpec(ConfigSection):
    """One server: how to run it and the port whose health check says it is up."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # also its log file's name
    command: list[str] = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    host: str = "127.0.0.1"
    env: dict[str, str] = Field(default_factory=dict)  # added to the launcher's environment
    cwd: Path | None = None  # relative to the config file's folder
    startup_timeout_s: float = Field(default=120.0, gt=0)
    stop_grace_s: float = Field(default=30.0, ge=0)  # SIGTERM to SIGKILL
    auth_token: str | None = None  # given to the server as REASONLOOP_AUTH_TOKEN

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class LaunchConfig(ConfigSection):
    """A `[[server]]` table per server (TOML; a `server:` list in YAML)."""

    server: list[ServerSpec] = Field(min_length=1)

    @field_validator("server")
    @classmethod
    def _distinct(cls, servers: list[ServerSpec]) -> list[ServerSpec]:
        for kind in ("name", "address"):
            values = [getattr(s, kind) for s in servers]
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise PydanticCustomError(
                    "distinct",
                    "two servers have the {kind} {value}",
                    {"kind": kind, "value": repeated[0]},
                )
        return servers


def load_launch_config(path: str | Path) -> LaunchConfig:
    """Read and validate a launch file; relative `cwd`s are taken from the file's folder."""
    path = Path(path)
    config = load_config_file(path, LaunchConfig)
    servers = [
        s.model_copy(update={"cwd": path.parent / s.cwd})
        if s.cwd is not None and not s.cwd.is_absolute()
        else s
        for s in config.server
    ]
    return config.model_copy(update={"server": servers})


class LaunchError(RuntimeError):
    """A server could not be started or did not become healthy; the message names it."""


def log_tail(path: Path, lines: int = 10) -> list[str]:
    """The last non-empty `lines` of a log file."""
    if not path.is_file():
        return []
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
        text = file.read().decode(errors="replace")
    return [line for line in text.splitlines() if line.strip()][-lines:]


@dataclass(frozen=True)
class ServerExit:
    """A server that ended on its own."""

    name: str
    returncode: int
    log: Path

    def __str__(self) -> str:
        how = f"was killed by signal {-self.returncode}" if self.returncode < 0 else "exited"
        code = "" if self.returncode < 0 else f" with code {self.returncode}"
        return f"server {self.name} {how}{code} (log: {self.log})"


class _Server:
    """A started server process, its log and its health-check stub."""

    def __init__(self, spec: ServerSpec, logs_dir: Path) -> None:
        self.spec = spec
        self.log = logs_dir / f"{spec.name}.log"
        env = {**os.environ, **spec.env}
        if spec.auth_token is not None:
            env[AUTH_TOKEN_ENV] = spec.auth_token
        self._log_file: IO[bytes] = self.log.open("wb")
        try:
            self.process = subprocess.Popen(
                spec.command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,
            )
        except OSError as error:
            self._log_file.close()
            raise LaunchError(
                f"server {spec.name}: cannot run {spec.command[0]!r}: {error.strerror}"
            ) from None
        # Retry connecting every few hundred ms, not with gRPC's default backoff (up to 2 min),
        # so a server that takes a while to load is seen as soon as it listens.
        self._channel = grpc.insecure_channel(
            spec.address,
            options=[
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 500),
            ],
        )
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def serving(self) -> bool:
        metadata = (("authorization", f"Bearer {self.spec.auth_token}"),)
        try:
            response = self._health.Check(  # pyright: ignore[reportAttributeAccessIssue]
                health_pb2.HealthCheckRequest(service=""),
                timeout=1.0,
                metadata=metadata if self.spec.auth_token else None,
            )
        except grpc.RpcError:
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def ended(self) -> ServerExit | None:
        returncode = self.process.poll()
        return None if returncode is None else ServerExit(self.spec.name, returncode, self.log)

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the server and everything it started (its process group)."""
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.process.pid, sig)

    def close(self) -> None:
        self._channel.close()
        self._log_file.close()


def _check_port_free(spec: ServerSpec) -> None:
    """Refuse a port something already listens on: its health check would answer for ours."""
    family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            probe.bind((spec.host, spec.port))
        except OSError as error:
            raise LaunchError(
                f"server {spec.name}: cannot use {spec.address}: {error.strerror}"
            ) from None


class Launcher:
    """Starts the servers of a `LaunchConfig` and stops them together.

    `with Launcher(config) as running:` returns once every server is healthy (or raises
    `LaunchError` with everything stopped); leaving the block stops them all.
    """

    def __init__(
        self, config: LaunchConfig | str | Path, *, logs_dir: str | Path = DEFAULT_LOGS_DIR
    ) -> None:
        self.config = config if isinstance(config, LaunchConfig) else load_launch_config(config)
        self.logs_dir = Path(logs_dir)
        self._servers: dict[str, _Server] = {}
        self._stopped = False

    @property
    def addresses(self) -> dict[str, str]:
        return {name: s.spec.address for name, s in self._servers.items()}

    @property
    def pids(self) -> dict[str, int]:
        return {name: s.process.pid for name, s in self._servers.items()}

    @property
    def logs(self) -> dict[str, Path]:
        return {name: s.log for name, s in self._servers.items()}

    def connection(self, name: str) -> Connection:
        """How a client reaches server `name` (with its auth token)."""
        from reasonloop.rpc import Connection

        spec = self._servers[name].spec
        return Connection(spec.address, auth_token=spec.auth_token)

    def start(self) -> Self:
        """Start every server, then wait until each is healthy within its startup timeout."""
        if self._servers or self._stopped:
            raise RuntimeError("a Launcher starts once")
        try:
            for spec in self.config.server:
                _check_port_free(spec)
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            for spec in self.config.server:
                self._servers[spec.name] = _Server(spec, self.logs_dir)
            self._wait_healthy()
        except BaseException:  # Ctrl-C while starting included: leave nothing running
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        started = time.monotonic()
        pending = dict(self._servers)
        while pending:
            for name, server in list(pending.items()):
                exited = server.ended()
                if exited is not None:
                    last = log_tail(server.log, 1)
                    detail = f": {last[0].strip()}" if last else ""
                    raise LaunchError(f"{exited} before becoming healthy{detail}")
                if server.serving():
                    del pending[name]
                elif time.monotonic() - started > server.spec.startup_timeout_s:
                    raise LaunchError(
                        f"server {name} was not healthy on {server.spec.address} within "
                        f"{server.spec.startup_timeout_s:g} s (log: {server.log})"
                    )
            if pending:
                time.sleep(POLL_S)

    def exited(self) -> ServerExit | None:
        """The first server found to have ended on its own, if any."""
        for server in self._servers.values():
            exited = server.ended()
            if exited is not None:
                return exited
        return None

    def wait(self, timeout_s: float | None = None) -> ServerExit | None:
        """Block until a server ends on its own (returned) or `timeout_s` passes (None)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while (exited := self.exited()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)
        return exited

    def stop(self) -> None:
        """SIGTERM every server's process group, SIGKILL those still there after their grace
        period, and reap them all."""
        if self._stopped:
            return
        self._stopped = True
        servers = list(self._servers.values())
        sent = time.monotonic()
        for server in servers:
            server.signal_group(signal.SIGTERM)
        for server in servers:
            remaining = sent + server.spec.stop_grace_s - time.monotonic()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=max(remaining, 0))
            server.signal_group(signal.SIGKILL)  # also anything the server left behind
            server.process.wait()
            server.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
