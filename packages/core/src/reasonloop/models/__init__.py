"""Model loading: built-ins, local dirs, GGUF files, hub ids; LoRA and export."""

from reasonloop.models.loading import (
    BUILTIN_MODELS,
    LoadedModel,
    ModelSpecError,
    default_device,
    load_model,
)
from reasonloop.models.lora import attach_lora, merge_and_export

__all__ = [
    "BUILTIN_MODELS",
    "LoadedModel",
    "ModelSpecError",
    "attach_lora",
    "default_device",
    "load_model",
    "merge_and_export",
]
