"""Real gRPC servers on free localhost ports, around the session's tiny model
(`start_inference` itself is in the root conftest: tests/security uses it too), and the
OpenAI-compatible HTTP server with an official `openai` client on it, one per module
(`server`, `client`, on the root conftest's `engine`; a module may define its own)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import openai
import pytest

from reasonloop.rpc.engine import InferenceEngine
from reasonloop.rpc.openai_http import OpenAIServer, start_openai_server

if TYPE_CHECKING:
    from reasonloop.rpc import RunningServer


@pytest.fixture
def inference_server(start_inference) -> RunningServer:
    return start_inference()


@pytest.fixture
def address(inference_server: RunningServer) -> str:
    return f"127.0.0.1:{inference_server.port}"


@pytest.fixture(scope="module")
def server(engine: InferenceEngine) -> Iterator[OpenAIServer]:
    with start_openai_server(engine, port=0) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: OpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=60)
