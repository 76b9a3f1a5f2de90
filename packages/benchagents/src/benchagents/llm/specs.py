"""Backend specs as the CLI takes them: `local:MODEL`, `grpc:HOST:PORT`, `openai:MODEL`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from benchagents.llm.base import LLM

DEFAULT_BACKEND = "local:smollm2-135m"
SPEC_FORMS = "local:MODEL (e.g. local:smollm2-135m), grpc:HOST:PORT or openai:MODEL"


@dataclass(frozen=True)
class Endpoints:
    """Where remote backends are; each falls back to its environment variable."""

    base_url: str | None = None  # OPENAI_BASE_URL
    api_key: str | None = None  # OPENAI_API_KEY
    model: str | None = None  # OPENAI_MODEL: the model when the spec is just "openai"
    auth_token: str | None = None  # REASONLOOP_AUTH_TOKEN, for grpc servers
    device: str | None = None  # local models: cpu, cuda (default: auto)


def make_backend(spec: str = DEFAULT_BACKEND, endpoints: Endpoints | None = None) -> LLM:
    """The backend a spec names; ValueError listing the accepted forms otherwise."""
    endpoints = endpoints or Endpoints()
    kind, _, rest = spec.partition(":")
    if kind == "local":
        if not rest:
            raise ValueError(f"backend {spec!r} names no model; use {SPEC_FORMS}")
        from benchagents.llm.local import LocalBackend

        return LocalBackend(rest, device=endpoints.device)
    if kind == "grpc":
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"backend {spec!r}: a gRPC backend is grpc:HOST:PORT")
        from benchagents.llm.served import GrpcBackend

        token = endpoints.auth_token or os.environ.get("REASONLOOP_AUTH_TOKEN") or None
        return GrpcBackend(rest, token)
    if kind == "openai":
        from benchagents.llm.openai_api import OpenAIBackend

        model = rest or endpoints.model or os.environ.get("OPENAI_MODEL", "")
        if not model:
            raise ValueError("an openai backend needs a model: openai:MODEL or --model")
        base_url = endpoints.base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = endpoints.api_key or os.environ.get("OPENAI_API_KEY") or None
        if api_key is None:
            if base_url is None:
                raise ValueError(
                    "the openai backend needs an API key (--api-key or OPENAI_API_KEY) "
                    "or a local server's --base-url"
                )
            api_key = "unused"  # local OpenAI-compatible servers usually ask for none
        return OpenAIBackend(base_url, api_key, model)
    raise ValueError(f"unknown backend {spec!r}; use {SPEC_FORMS}")
