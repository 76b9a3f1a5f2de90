"""LoRA adapters (PEFT) on a loaded model; `reasonloop.models.export` merges them for export.

`peft` is imported on use: importing it costs ~20 s on a small CPU machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from reasonloop.extras import requires

with requires("models"):
    from transformers import PreTrainedModel

if TYPE_CHECKING:
    from peft import PeftModel

    from reasonloop.configfile import ModelSection


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


def with_lora(model: PreTrainedModel, section: ModelSection) -> PreTrainedModel:
    """`model` with the adapters a config's `[model]` section asks for (its rank, alpha and
    top layers), or `model` itself when `section.lora` is off (full fine-tuning).

    Typed as the model it wraps: a PeftModel stands in for it (runs its forward, forwards
    every other attribute to it), which peft's types cannot say. The PEFT-only methods
    (`disable_adapter`, `merge_and_unload`) are for callers that know `section.lora` is on.
    """
    if not section.lora:
        return model
    adapted = attach_lora(
        model,
        rank=section.lora_rank,
        alpha=section.lora_alpha,
        top_layers=section.lora_top_layers,
    )
    return cast("PreTrainedModel", adapted)


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
