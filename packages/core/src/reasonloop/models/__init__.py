"""Model loading: built-ins, local dirs, GGUF files, hub ids; LoRA and export."""

from reasonloop.models.export import merge_and_export
from reasonloop.models.loading import (
    BUILTIN_MODELS,
    LoadedModel,
    ModelSpecError,
    default_device,
    load_model,
    load_model_config,
)
from reasonloop.models.lora import attach_lora

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
