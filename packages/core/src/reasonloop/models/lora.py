"""LoRA adapters (PEFT) on a loaded model, and export of a merged plain checkpoint.

The export is what makes "train soft, infer hard" practical: whatever was trained, the
result is an ordinary HF directory that any discrete-decoding server loads without our code.
`peft` is imported on use: importing it costs ~20 s on a small CPU machine.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import PreTrainedModel

if TYPE_CHECKING:
    from peft import PeftModel


def attach_lora(
    model: PreTrainedModel,
    *,
    rank: int = 16,
    alpha: int = 32,
    dropout: float = 0.0,
    target_modules: str | list[str] = "all-linear",
    top_layers: int | None = None,
) -> PeftModel:
    """Wrap `model` with trainable LoRA adapters; the base weights are frozen.

    `top_layers=k` adapts only the last k transformer layers: backpropagation then stops
    there, so a training step costs little more than a forward pass (what makes CPU runs
    affordable); None, or a k of at least the model's depth, adapts every layer (so one
    config serves models of any depth).
    """
    from peft import LoraConfig, get_peft_model

    layers = None
    if top_layers is not None and top_layers < 1:
        raise ValueError(f"top_layers must be at least 1, not {top_layers}")
    if top_layers is not None and top_layers < model.config.num_hidden_layers:
        total = model.config.num_hidden_layers
        layers = list(range(total - top_layers, total))
        if target_modules == "all-linear":  # peft wants the names spelled out with layers
            target_modules = _linear_names(model)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def merge_and_export(
    model: PreTrainedModel | PeftModel, out_dir: str | Path, tokenizer: Any = None
) -> Path:
    """Write `model` (LoRA merged in, if any) as a plain HF checkpoint to `out_dir`.

    The live model is left untouched (the merge happens on a copy), so training can go on.
    The directory appears atomically: it is written aside and renamed into place.
    """
    out_dir = Path(out_dir)
    is_peft = hasattr(model, "merge_and_unload")
    plain = copy.deepcopy(model).merge_and_unload() if is_peft else model
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}-") as tmp:
        staging = Path(tmp) / "checkpoint"
        plain.save_pretrained(staging)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
        if out_dir.exists():
            old = Path(tmp) / "previous"
            os.rename(out_dir, old)
        os.rename(staging, out_dir)
    return out_dir


def _linear_names(model: PreTrainedModel) -> list[str]:
    """The distinct names of the model's linear layers, the output head excepted."""
    import torch

    head = model.get_output_embeddings()
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and module is not head
        }
    )
