"""Real gRPC servers on free localhost ports, around the session's tiny model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from reasonloop.models import LoadedModel
    from reasonloop.rpc import RunningServer


@pytest.fixture
def start_inference(tiny: LoadedModel) -> Iterator:
    """Starts Inference servers for the tiny model; all are stopped after the test."""
    from reasonloop.rpc import EngineLimits, InferenceEngine, ServerOptions, serve_inference

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
def inference_server(start_inference) -> RunningServer:
    return start_inference()


@pytest.fixture
def address(inference_server: RunningServer) -> str:
    return f"127.0.0.1:{inference_server.port}"
