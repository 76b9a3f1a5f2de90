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
        default_device,
        load_model,
        load_model_config,
    )
    from reasonloop.models.lora import attach_lora
    from reasonloop.models.specs import ModelSpecError, check_model_spec

__getattr__ = lazy_attributes(
    __name__,
    {
        "LoadedModel": "loading",
        "ModelSpecError": "specs",
        "check_model_spec": "specs",
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
    "check_model_spec",
    "default_device",
    "load_model",
    "load_model_config",
    "merge_and_export",
]
