"""Real gRPC servers on free localhost ports, around the session's tiny model
(`start_inference` itself is in the root conftest: tests/security uses it too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from reasonloop.rpc import RunningServer


@pytest.fixture
def inference_server(start_inference) -> RunningServer:
    return start_inference()


@pytest.fixture
def address(inference_server: RunningServer) -> str:
    return f"127.0.0.1:{inference_server.port}"
