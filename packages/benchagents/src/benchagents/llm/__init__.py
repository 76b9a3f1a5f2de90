"""LLM backends behind one interface: in-process core model, gRPC server, OpenAI-compatible.

The backend classes are imported on first use (`from benchagents.llm import LocalBackend`
works), so code that only needs the interface does not pay for torch or grpc.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from benchagents.llm.base import (
    LLM,
    BackendError,
    GenerationOptions,
    Messages,
    StructuredOutputError,
)
from benchagents.llm.specs import DEFAULT_BACKEND, Endpoints, make_backend

_BACKENDS = {
    "LocalBackend": "benchagents.llm.local",
    "GrpcBackend": "benchagents.llm.served",
    "OpenAIBackend": "benchagents.llm.openai_api",
}


def __getattr__(name: str) -> Any:
    if name in _BACKENDS:
        return getattr(import_module(_BACKENDS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_BACKEND",
    "LLM",
    "BackendError",
    "Endpoints",
    "GenerationOptions",
    "GrpcBackend",
    "LocalBackend",
    "Messages",
    "OpenAIBackend",
    "StructuredOutputError",
    "make_backend",
]
