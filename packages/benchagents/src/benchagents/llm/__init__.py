"""LLM backends behind one interface: in-process core model, gRPC server, OpenAI-compatible.

This package exports the interface and `make_backend`, which import neither torch nor grpc; the
backends are imported from their modules: `benchagents.llm.local.LocalBackend`,
`benchagents.llm.served.GrpcBackend`, `benchagents.llm.openai_api.OpenAIBackend`.
"""

from benchagents.llm.base import (
    LLM,
    BackendError,
    GenerationOptions,
    Messages,
    StructuredOutputError,
)
from benchagents.llm.specs import DEFAULT_BACKEND, Endpoints, make_backend

__all__ = [
    "DEFAULT_BACKEND",
    "LLM",
    "BackendError",
    "Endpoints",
    "GenerationOptions",
    "Messages",
    "StructuredOutputError",
    "make_backend",
]
