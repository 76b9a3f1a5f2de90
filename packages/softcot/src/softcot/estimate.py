"""What a run needs before it runs: batch sizes, memory per process, hours per GPU.

`softcot train --dry-run` prints this for a config without loading weights or data, so a
paper-scale config can be checked on a laptop before it is sent to GPUs. The model is built
on PyTorch's meta device from its architecture config (exact parameter counts), with the LoRA
adapters the trainer would attach (`with_lora`, the same call). The three paper models'
architectures are kept here (the values of their config.json on the hub), so their configs
are checked offline too.

Memory is per process: weights, gradients, AdamW's two states, the CoT gradient copy of
`train.log_grad_components`, and the larger of the two transient peaks -- activations of one
teacher-forced micro-batch (the adapted layers' saved tensors plus the float32 logits), or
the sampler's KV cache for the process's rows. Activations are a rough count (x1.5 either
way); the rest is exact up to allocator slack. Time assumes every thought runs to its budget
(an upper bound) on the `Gpu` below: decoding is weight- and cache-bandwidth bound, teacher
forcing compute bound, and the sampler's Python loop costs a little per row and step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from reasonloop.models.loading import load_model_config
from reasonloop.models.lora import with_lora
from softcot.config import RunConfig
from softcot.prompts import ANSWER_MARKER

GB = 1e9

# config.json of the paper's models on the Hugging Face hub (architecture fields only).
PAPER_ARCHITECTURES: dict[str, dict[str, Any]] = {  # AutoConfig.for_model's arguments
    "meta-llama/Llama-3.1-8B-Instruct": dict(
        model_type="llama",
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        tie_word_embeddings=False,
    ),
    "meta-llama/Llama-3.2-3B-Instruct": dict(
        model_type="llama",
        vocab_size=128256,
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=28,
        num_attention_heads=24,
        num_key_value_heads=8,
        tie_word_embeddings=True,
    ),
    "Qwen/Qwen2.5-3B-Instruct": dict(
        model_type="qwen2",
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    ),
}


@dataclass(frozen=True)
class Gpu:
    """The accelerator the time estimate assumes (override any field)."""

    name: str = "H100 SXM 80 GB"
    memory: float = 80 * GB
    flops: float = 989e12  # dense bf16
    bandwidth: float = 3.35e12  # HBM bytes/s
    compute_use: float = 0.35  # share of `flops` teacher forcing and prefill reach
    bandwidth_use: float = 0.5  # share of `bandwidth` a decoding step reaches
    row_step_s: float = 50e-6  # the sampler's Python work per row and step (a device sync)

    def assumption(self) -> str:
        return (
            f"{self.name}: {self.flops / 1e12:.0f} TFLOP/s bf16 at {self.compute_use:.0%} "
            f"for teacher forcing, {self.bandwidth / 1e12:.2f} TB/s at "
            f"{self.bandwidth_use:.0%} for decoding, {self.row_step_s * 1e6:.0f} us of Python "
            "per row and decoding step"
        )


@dataclass(frozen=True)
class Architecture:
    source: str
    parameters: int  # the base model's
    trainable: int
    layers: int
    adapted_layers: int  # where backpropagation goes
    hidden: int
    kv_dim: int
    intermediate: int
    vocab: int


def architecture(config: RunConfig) -> Architecture:
    """Parameter counts and shapes of the run's model, from its config on the meta device."""
    from transformers import AutoConfig, AutoModelForCausalLM

    spec = config.model.spec
    if spec in PAPER_ARCHITECTURES:
        hf_config, source = AutoConfig.for_model(**PAPER_ARCHITECTURES[spec]), "kept config"
    else:
        hf_config, source = load_model_config(spec), "model config"
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    parameters = sum(p.numel() for p in model.parameters())
    layers = hf_config.num_hidden_layers
    model = with_lora(model, config.model)
    adapted = layers
    if config.model.lora:
        adapted = min(layers, config.model.lora_top_layers or layers)
    heads = hf_config.num_attention_heads
    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // heads
    kv_heads = getattr(hf_config, "num_key_value_heads", None) or heads
    return Architecture(
        source=source,
        parameters=parameters,
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        layers=layers,
        adapted_layers=adapted,
        hidden=hf_config.hidden_size,
        kv_dim=kv_heads * head_dim,
        intermediate=hf_config.intermediate_size,
        vocab=hf_config.vocab_size,
    )


@dataclass(frozen=True)
class Estimate:
    config: RunConfig
    arch: Architecture
    processes: int
    prompt_tokens: int
    gpu: Gpu
    rows: int  # completions a process samples and trains on per step
    steps_per_sample: int  # decoding steps of one completion at most
    memory: dict[str, float]  # bytes per process
    sample_s: float  # per step, upper bound
    train_s: float

    @property
    def peak(self) -> float:
        m = self.memory
        steady = m["weights"] + m["gradients"] + m["adam"] + m["cot gradient copy"]
        return steady + max(m["activations"], m["sampling KV cache"])

    @property
    def hours(self) -> float:
        """Wall-clock hours of the whole run on `processes` GPUs."""
        return self.config.train.steps * (self.sample_s + self.train_s) / 3600

    def lines(self) -> list[str]:
        c, a = self.config, self.arch
        train, thinking = c.train, c.thinking
        if c.model.lora:
            adapters = f"LoRA r={c.model.lora_rank} on {a.adapted_layers} of {a.layers} layers"
        else:
            adapters = f"full fine-tuning, {c.model.dtype} weights, {c.model.mixed_precision}"
        completions = train.prompts_per_step * train.group_size
        memory = ", ".join(f"{name} {value / GB:.1f}" for name, value in self.memory.items())
        fits = "fits" if self.peak <= self.gpu.memory else "does NOT fit"
        return [
            f"model: {c.model.spec} ({a.source}): {a.parameters / 1e9:.2f} B parameters; "
            f"{adapters}: {a.trainable / 1e6:.1f} M trainable",
            f"batch: {train.prompts_per_step} prompts x group {train.group_size} = "
            f"{completions} completions a step ({self.rows} per process on {self.processes}), "
            f"micro-batch {train.micro_batch}",
            f"steps: {train.steps} (checkpoint every {train.checkpoint_every}); thinking "
            f"{thinking.mode}, at most {thinking.max_tokens} steps; answer at most "
            f"{train.max_new_tokens} tokens; prompts ~{self.prompt_tokens} tokens",
            f"memory per process (GB): {memory}; peak ~{self.peak / GB:.1f} GB "
            f"({fits} the {self.gpu.memory / GB:.0f} GB of one {self.gpu.name})",
            f"time per step (every thought at its budget): sampling ~{self.sample_s:.1f} s, "
            f"training ~{self.train_s:.1f} s",
            f"expected: ~{self.hours:.1f} h on {self.processes} GPU(s) = "
            f"~{self.hours * self.processes:.0f} GPU-hours for {train.steps} steps",
            f"assumed: {self.gpu.assumption()}",
        ]


def estimate(
    config: RunConfig, *, processes: int = 1, prompt_tokens: int = 256, gpu: Gpu | None = None
) -> Estimate:
    """The run's sizes, memory per process and time on `processes` GPUs."""
    gpu = gpu or Gpu()
    train, model = config.train, config.model
    if processes < 1 or train.prompts_per_step % processes:
        raise ValueError(
            f"processes must divide train.prompts_per_step ({train.prompts_per_step}), "
            f"got {processes}"
        )
    arch = architecture(config)
    weight_bytes = {"float32": 4, "bfloat16": 2, "auto": 2}[model.dtype]  # auto: bf16 on GPU
    compute_bytes = 2 if model.mixed_precision == "bf16" or weight_bytes == 2 else 4
    state_bytes = 4 if model.lora else weight_bytes  # PEFT keeps adapters in float32
    base = arch.parameters * weight_bytes + (arch.trainable * 4 if model.lora else 0)
    prompts = train.prompts_per_step // processes
    rows = prompts * train.group_size
    # the marker's tokens (~4 characters a token) are steps too, after a budget-cut thought
    steps = config.thinking.max_tokens + math.ceil(len(ANSWER_MARKER) / 4) + train.max_new_tokens
    sequence = prompt_tokens + steps

    micro = min(train.micro_batch, rows)
    micro_tokens = micro * steps + math.ceil(micro / train.group_size) * prompt_tokens
    per_token_layer = compute_bytes * (8 * arch.hidden + 2 * arch.kv_dim + 4 * arch.intermediate)
    logits = micro * steps * arch.vocab * (compute_bytes + 8)  # logits, float copy, log-softmax
    kv = rows * sequence * arch.layers * 2 * arch.kv_dim * compute_bytes
    soft_inputs = rows * config.thinking.max_tokens * arch.hidden * compute_bytes
    memory = {
        "weights": float(base),
        "gradients": float(arch.trainable * state_bytes),
        "adam": float(2 * arch.trainable * state_bytes),
        "cot gradient copy": float(
            arch.trainable * state_bytes if train.log_grad_components else 0
        ),
        "activations": float(micro_tokens * arch.adapted_layers * per_token_layer + logits),
        "sampling KV cache": float(kv + soft_inputs),
    }

    n = arch.parameters
    compute = gpu.flops * gpu.compute_use
    read = n * (weight_bytes + (4 if weight_bytes == 4 and compute_bytes == 2 else 0))
    decode_step = max(2 * n * rows / compute, (read + kv / 2) / (gpu.bandwidth * gpu.bandwidth_use))
    prefill = 2 * n * prompts * prompt_tokens / compute
    sample_s = prefill + steps * (decode_step + rows * gpu.row_step_s)

    tokens = rows * steps + prompts * prompt_tokens
    backward = (
        4 * n * tokens if not model.lora else 2 * n * tokens * arch.adapted_layers / arch.layers
    )
    flops = 2 * n * tokens + backward * (2 if train.log_grad_components else 1)
    if train.kl_coef > 0:
        flops += 2 * n * tokens  # the frozen reference's forward
    return Estimate(
        config=config,
        arch=arch,
        processes=processes,
        prompt_tokens=prompt_tokens,
        gpu=gpu,
        rows=rows,
        steps_per_sample=steps,
        memory=memory,
        sample_s=sample_s,
        train_s=flops / compute,
    )
