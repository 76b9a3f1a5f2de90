"""Shared fixtures: real models, loaded once per test session, and Inference servers around
the tiny one."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from reasonloop.models.loading import LoadedModel
    from reasonloop.rpc import RunningServer
    from reasonloop.rpc.engine import InferenceEngine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """Call it for a localhost TCP port that was free a moment ago (for a server that is
    started in another process, or must be told its port before it starts)."""
    return _free_port


@pytest.fixture(scope="session")
def tiny() -> LoadedModel:
    from reasonloop.models.loading import (
        load_model,  # imported lazily: transformers is slow to import
    )

    return load_model("tiny-llama", device="cpu")


@pytest.fixture(scope="session")
def smollm2() -> LoadedModel:
    """The real SmolLM2-135M-Instruct (converted from its GGUF on first use, then cached)."""
    from reasonloop.models.loading import load_model

    return load_model("smollm2-135m", device="cpu")


@pytest.fixture(scope="module")
def engine(tiny: LoadedModel) -> Iterator[InferenceEngine]:
    """An inference engine on the tiny model, one per test module."""
    from reasonloop.rpc.engine import InferenceEngine

    engine = InferenceEngine(tiny)
    yield engine
    engine.close()


@pytest.fixture
def start_inference(tiny: LoadedModel) -> Iterator:
    """Starts Inference servers for the tiny model; all are stopped after the test."""
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import EngineLimits, InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    servers: list[RunningServer] = []

    def start(limits: EngineLimits | None = None, **options: object) -> RunningServer:
        engine = InferenceEngine(tiny, limits)
        server = serve_inference(engine, ServerOptions(port=0, **options))  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(grace_s=0)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 and its key (PEM files)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(autouse=True)
def default_ctrl_c() -> Iterator[None]:
    """Every test starts with Python's own Ctrl-C handler: a library or an in-process server
    that installed its own (and never put it back) must not change how the next test's
    Ctrl-C behaves."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)
