"""Export of a trained model as a plain HF checkpoint that transformers 4.x and 5.x read alike.

The export is what makes "train soft, infer hard" practical: whatever was trained, the
result is an ordinary HF directory that any discrete-decoding server loads without our code.
Servers pin transformers lines of their own (vLLM pins 4.x) while this project runs 5.x, and
5.x writes files that 4.x misreads: the RoPE settings only as `rope_parameters` (4.x then
takes its default `rope_theta`, 10000 where SmolLM2 uses 100000: wrong outputs, no error),
the tokenizer class as `TokenizersBackend` (4.x: "does not exist"), the extra special tokens
as a list (4.x wants a dict). The export writes the legacy keys beside the new ones, with
the same values, so both lines load the same model; a test loads one under 4.x.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from reasonloop.atomic import new_file_mode

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

# The generic fast tokenizer over tokenizer.json: a class every 4.x and 5.x knows (5.x
# reads it as its own `TokenizersBackend`).
PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"
# Written by 5.x about where a tokenizer was loaded from, not about the tokenizer itself.
LOAD_TIME_KEYS = ("is_local", "local_files_only")


def merge_and_export(
    model: PreTrainedModel | PeftModel, out_dir: str | Path, tokenizer: Any = None
) -> Path:
    """Write `model` (LoRA merged in, if any) and `tokenizer` as a plain HF checkpoint to
    `out_dir`, readable by transformers 4.x and 5.x alike.

    The live model is left untouched (the merge happens on a copy), so training can go on.
    The directory appears atomically: it is written aside and renamed into place. Its files
    get the mode a plain write would give them (the umask's), not the 0600 of temp files.
    """
    out_dir = Path(out_dir)
    is_peft = hasattr(model, "merge_and_unload")
    plain = cast(Any, copy.deepcopy(model)).merge_and_unload() if is_peft else model
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}-") as tmp:
        staging = Path(tmp) / "checkpoint"
        plain.save_pretrained(str(staging))
        _rewrite_json(staging / "config.json", portable_model_config)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
            _rewrite_json(staging / "tokenizer_config.json", portable_tokenizer_config)
        for path in staging.iterdir():
            os.chmod(path, new_file_mode())
        if out_dir.exists():
            old = Path(tmp) / "previous"
            os.rename(out_dir, old)
        os.rename(staging, out_dir)
    return out_dir


def portable_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` (a config.json's content) with the 4.x keys for what 5.x writes in its own.

    RoPE: 5.x keeps `rope_theta` and the scaling inside `rope_parameters`; 4.x reads the
    top-level `rope_theta` and `rope_scaling` (None for plain RoPE). 5.x reads those back
    to the same `rope_parameters`. Per-layer-type RoPE (nested) had model-specific legacy
    keys and is left as it is, with a warning. `torch_dtype` is the pre-4.56 `dtype`.
    """
    config = dict(config)
    if "dtype" in config:
        config.setdefault("torch_dtype", config["dtype"])
    rope = config.get("rope_parameters")
    if not isinstance(rope, dict) or "rope_theta" not in rope:
        if isinstance(rope, dict):
            log.warning("per-layer RoPE parameters: transformers 4.x may read this export wrongly")
        return config
    config["rope_theta"] = rope["rope_theta"]
    scaling = {key: value for key, value in rope.items() if key != "rope_theta"}
    if scaling.get("rope_type", "default") != "default":
        config["rope_scaling"] = scaling
        return config
    config["rope_scaling"] = None  # plain RoPE; its other settings are top-level keys in 4.x
    for key, value in scaling.items():
        if key != "rope_type":
            config.setdefault(key, value)
    return config


def portable_tokenizer_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` (a tokenizer_config.json's content) in terms 4.x knows: a tokenizer class
    it has, and extra special tokens listed as `additional_special_tokens` (which 5.x reads
    back as its `extra_special_tokens`)."""
    config = {key: value for key, value in config.items() if key not in LOAD_TIME_KEYS}
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = PORTABLE_TOKENIZER_CLASS
    extra = config.get("extra_special_tokens")
    if isinstance(extra, list):  # 4.x takes a dict of named tokens here
        del config["extra_special_tokens"]
        config["additional_special_tokens"] = extra
    return config


def _rewrite_json(path: Path, change: Any) -> None:
    content = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(change(content), indent=2, sort_keys=True) + "\n", encoding="utf-8")
