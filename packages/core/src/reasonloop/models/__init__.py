"""Model loading: built-ins, local dirs, GGUF files, hub ids; LoRA and export.

This package exports what needs no torch: the built-in names (`reasonloop models` lists them)
and the spec check. Loading needs the `models` extra and is imported from its modules:
`reasonloop.models.loading` (`load_model`, `load_model_config`, `LoadedModel`,
`default_device`), `reasonloop.models.lora` (`attach_lora`) and `reasonloop.models.export`
(`merge_and_export`).
"""

from reasonloop.models.builtins import BUILTIN_MODELS
from reasonloop.models.specs import ModelSpecError, check_model_spec

__all__ = [
    "BUILTIN_MODELS",
    "ModelSpecError",
    "check_model_spec",
]
