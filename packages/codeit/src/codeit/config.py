"""The configuration of a CodeIt run: one validated file; unknown keys are errors.

The embedded default (`DEFAULT_CONFIG`) is the CPU main job: SmolLM2-135M-Instruct with LoRA,
a small set of target tasks with small grids, a few meta-iterations. Measured on a 2-core Xeon
with one torch thread: the learning run takes ~5.7 CPU minutes (~115 s a meta-iteration: 8
LoRA steps and 96 typed samples) and its never-learning baseline ~4.2, so `codeit run` ends in
about 10 minutes on two idle cores; on a shared machine the wall time grows with the load.
`configs/paper.toml` is the paper's scale (all 400 evaluation tasks, 24 programs per task at
temperature 0.95, a ~19k-task mutation buffer) for GPUs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from reasonloop.configfile import (
    CheckpointSection,
    ConfigSection,
    MethodConfig,
    ModelSection,
    load_config_file,
)
from reasonloop.sandbox import Backend

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


class DataSection(ConfigSection):
    train: str = "arc1-train"  # arc1-train|arc1-eval|arc2-train|arc2-eval or a directory
    eval: str = "arc1-eval"
    eval_tasks: int = Field(default=4, ge=-1)  # evaluation tasks to target; -1 = all, 0 = none
    heldout_tasks: int = Field(default=8, ge=0)  # seeded training tasks held out as targets
    max_grid_size: int = Field(default=6, ge=1, le=30)  # target tasks whose grids all fit this side
    prompt_examples: int = Field(default=2, ge=1)  # demonstration pairs shown in a prompt (at most)
    prompt_encoding: Literal["dense", "sparse"] = "dense"  # sparse: the official prompt's grids
    # pairs are shown while within; official 512
    prompt_tokens: int | None = Field(default=None, ge=16)


class SearchSection(ConfigSection):
    samples_per_task: int = Field(default=8, ge=1)  # paper: 24
    temperature: float = Field(default=0.95, ge=0)
    max_new_tokens: int = Field(default=96, ge=8)  # a new line after 2/3 of it must be the O line
    batch_tasks: int = Field(default=4, ge=1)  # target tasks decoded together


class BufferSection(ConfigSection):
    mutation_init: bool = True  # ablation: False starts from an empty buffer
    mutation_size: int = Field(default=400, ge=0)  # paper: ~19k
    relabel: bool = True  # ablation: False keeps only programs that solve their task
    relabel_partial: bool = True  # official: keep the demonstrations with a valid output
    relabel_skip_trivial: bool = False  # not in the official code: drop identity/constant
    prioritized: bool = True  # ablation: False samples the buffer uniformly
    policy_fraction: float = Field(default=0.5, ge=0, le=1)  # share of policy experiences
    # batches: steps_per_iteration batches drawn with replacement; epoch (official): one pass
    # over epoch_size entries drawn without replacement, in batches of batch_size
    replay: Literal["batches", "epoch"] = "batches"
    epoch_size: int = Field(default=100_000, ge=1)  # official: ~90k policy + ~10k mutation


class TrainSection(ConfigSection):
    meta_iterations: int = Field(default=3, ge=1)
    steps_per_iteration: int = Field(default=8, ge=0)
    batch_size: int = Field(default=6, ge=1)
    learning_rate: float = Field(default=2e-3, gt=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    seed: int = 0


class SandboxSection(ConfigSection):
    workers: int = Field(default=2, ge=1)
    time_limit_s: float = Field(default=1.0, gt=0)
    memory_limit_mb: int = Field(default=1024, ge=64)
    max_steps: int = Field(default=10_000, ge=1)
    backend: Backend = "local"  # ray: the workers are actors on a Ray cluster, same results
    ray_address: str | None = None  # "auto", "ray://HOST:10001"; None: RAY_ADDRESS or local


class CodeitConfig(MethodConfig):
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    search: SearchSection = SearchSection()
    buffer: BufferSection = BufferSection()
    train: TrainSection = TrainSection()
    sandbox: SandboxSection = SandboxSection()
    checkpoint: CheckpointSection = CheckpointSection()


DEFAULT_CONFIG = CodeitConfig()


def load_config(path: str | Path | None) -> CodeitConfig:
    """The embedded default, or a TOML/YAML/JSON file (or a shipped config's name)."""
    if path is None:
        return DEFAULT_CONFIG
    return load_config_file(path, CodeitConfig, CONFIGS_DIR)
