"""Model loading: built-ins, local dirs, GGUF files, hub ids; LoRA and export.

The loaders (torch, transformers) load on first use, so listing the built-in names
(`reasonloop models`) starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reasonloop.lazy import lazy_attributes
from reasonloop.models.builtins import BUILTIN_MODELS

if TYPE_CHECKING:
    from reasonloop.models.export import merge_and_export
    from reasonloop.models.loading import (
        LoadedModel,
        ModelSpecError,
        default_device,
        load_model,
        load_model_config,
    )
    from reasonloop.models.lora import attach_lora

__getattr__ = lazy_attributes(
    __name__,
    {
        "LoadedModel": "loading",
        "ModelSpecError": "loading",
        "default_device": "loading",
        "load_model": "loading",
        "load_model_config": "loading",
        "attach_lora": "lora",
        "merge_and_export": "export",
    },
)

__all__ = [
    "BUILTIN_MODELS",
    "LoadedModel",
    "ModelSpecError",
    "attach_lora",
    "default_device",
    "load_model",
    "load_model_config",
    "merge_and_export",
]
