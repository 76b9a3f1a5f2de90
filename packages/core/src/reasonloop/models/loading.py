"""`load_model(spec)`: one entry point for every kind of model the project runs.

A spec is a built-in name (`smollm2-135m`, `tiny-llama`, ...), a local HF directory, a
`.gguf` file, or a hub id (only when online).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from reasonloop.extras import requires

with requires("models"):
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoTokenizer,
        PretrainedConfig,
        PreTrainedModel,
    )

from reasonloop.models.builtins import BUILTIN_MODELS, TINY_SIZES
from reasonloop.models.specs import ModelSpecError, resolve_source
from reasonloop.models.tiny import tiny_llama


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: Any
    spec: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.model.device


def default_device() -> torch.device:
    """CUDA when present, CPU otherwise: the same code runs on both."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_model(
    spec: str,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    seed: int = 0,
) -> LoadedModel:
    """Load `spec` onto `device` (default: CUDA if present) in `dtype` (default: bf16 on
    CUDA, fp32 on CPU). `seed` only matters for the random-init tiny models."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelSpecError(f"device {device} was asked for, but CUDA is not available here")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ModelSpecError(f"device {device}: this host has {torch.cuda.device_count()} GPUs")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ModelSpecError(f"device {device} was asked for, but MPS is not available here")
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    dtype = dtype or default_dtype(device)

    if spec in TINY_SIZES:
        model, tokenizer = tiny_llama(spec, seed=seed)
        source = f"random init, seed {seed}"
    else:
        source = resolve_source(spec)
        model, tokenizer = _load_pretrained(spec, source)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    # transformers types `to` through a decorator pyright cannot follow
    model = model.to(device=device, dtype=dtype).eval()  # pyright: ignore[reportCallIssue]
    metadata = {
        "spec": spec,
        "source": source,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": model.config.vocab_size,
        "context_length": getattr(model.config, "max_position_embeddings", None),
        "dtype": str(dtype).removeprefix("torch."),
        "device": str(device),
        "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
    }
    return LoadedModel(
        model=model, tokenizer=tokenizer, spec=spec, source=source, metadata=metadata
    )


def load_model_config(spec: str) -> PretrainedConfig:
    """The architecture config of `spec` without its weights (for estimates and dry runs);
    a hub id needs the hub or the local cache."""
    if spec in TINY_SIZES:
        return tiny_llama(spec)[0].config  # built in a blink: the model is tiny
    source = resolve_source(spec)
    local_only = not Path(source).is_dir() and not _hub_reachable()
    try:
        return AutoConfig.from_pretrained(source, local_files_only=local_only)
    except OSError as error:
        reason = "the hub is unreachable (offline?)" if local_only else str(error).splitlines()[0]
        raise ModelSpecError(f"could not load the config of '{spec}': {reason}") from error


def _load_pretrained(spec: str, source: str) -> tuple[PreTrainedModel, Any]:
    is_hub_id = not Path(source).is_dir()
    # Offline, transformers retries the hub for a long while before failing; ask the cache
    # only, and fail at once with a readable message when the model is not there.
    local_only = is_hub_id and not _hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=torch.float32, local_files_only=local_only
        )
    except OSError as error:
        if not is_hub_id:
            raise ModelSpecError(f"could not load the model in {source}: {error}") from error
        reason = "the hub is unreachable (offline?)" if local_only else f"{error}".splitlines()[0]
        raise ModelSpecError(
            f"could not load '{spec}' from the Hugging Face hub: {reason}; "
            f"built-in models work offline: {', '.join(sorted(BUILTIN_MODELS))}"
        ) from error
    return model, tokenizer


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    endpoint = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout).close()
    except OSError:
        return False
    return True
