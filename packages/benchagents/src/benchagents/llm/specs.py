"""Backend specs as the CLI takes them: a model spec (in-process; `local:MODEL` is an alias),
`grpc://HOST:PORT` (an Inference server) or `openai:MODEL` (an OpenAI-compatible endpoint).

The grammar of the other CLIs (reasonloop.cli_options); the old `grpc:HOST:PORT` still reads
as `grpc://HOST:PORT` (runs created with it keep working).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from benchagents.llm.base import LLM
from reasonloop.addresses import (
    GRPC_SCHEME,
    LEGACY_GRPC_PREFIX,
    AddressError,
    is_remote,
    parse_grpc_address,
)

DEFAULT_BACKEND = "smollm2-135m"
LOCAL_PREFIX = "local:"  # an alias: `local:MODEL` is the model spec MODEL
SPEC_FORMS = "a model spec (e.g. smollm2-135m), grpc://HOST:PORT or openai:MODEL"


def canonical_spec(spec: str) -> str:
    """`spec` in today's spelling (`grpc:HOST:PORT` → `grpc://HOST:PORT`), unchanged else."""
    if is_remote(spec) and not spec.startswith(GRPC_SCHEME):
        return GRPC_SCHEME + spec.removeprefix(LEGACY_GRPC_PREFIX)
    return spec


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
    if is_remote(spec):
        try:
            addresses = parse_grpc_address(canonical_spec(spec))
        except AddressError as error:
            raise ValueError(f"backend {spec[:80]!r}: {error}") from None
        from benchagents.llm.served import GrpcBackend

        token = endpoints.auth_token or os.environ.get("REASONLOOP_AUTH_TOKEN") or None
        return GrpcBackend(",".join(addresses), token)
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
    from reasonloop.models import BUILTIN_MODELS, ModelSpecError, check_model_spec

    model_spec = spec.removeprefix(LOCAL_PREFIX)
    if not model_spec:
        raise ValueError(f"backend {spec!r} names no model; use {SPEC_FORMS}")
    if model_spec not in BUILTIN_MODELS:  # a built-in's wheel is needed only when it loads
        try:
            check_model_spec(model_spec)  # loads nothing: a missing file or a typo fails now
        except ModelSpecError as error:
            raise ValueError(f"backend {spec[:80]!r}: {error}") from None
    from benchagents.llm.local import LocalBackend

    return LocalBackend(model_spec, device=endpoints.device)
