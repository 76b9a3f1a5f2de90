"""Training configuration: one validated file (TOML or YAML) per run; unknown keys are errors.

The embedded default (`DEFAULT_CONFIG`) is the CPU main job: SmolLM2-135M-Instruct with LoRA on
the easy levels of the built-in problems, sized to finish within minutes on two cores. The
paper-scale configs shipped in `softcot/configs/` use the paper's models and settings and run
unchanged under `accelerate launch` on GPUs.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Section):
    spec: str = "smollm2-135m"  # built-in name, HF dir, .gguf or hub id
    lora: bool = True  # False: full fine-tuning
    lora_rank: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # auto: bf16 on GPU, fp32 on CPU


class DataSection(_Section):
    train: str = "builtin:arith"  # builtin:arith|builtin:ood, a .jsonl file, or hf:NAME[:CONFIG]
    test: str = "builtin:arith"
    ood: str = "builtin:ood"
    levels: list[int] = [0, 1]  # difficulty levels of the built-in family
    train_count: int = Field(2000, ge=1)
    test_count: int = Field(40, ge=1)
    question_field: str = "question"
    answer_field: str = "answer"


class ThinkingSection(_Section):
    mode: Literal["hard", "soft", "fuzzy"] = "fuzzy"
    temperature: float | None = None  # default 1.0 hard, 0.5 soft, 1e-4 fuzzy
    noise_scale: float = Field(0.33, ge=0)
    max_tokens: int = Field(32, ge=0)


class TrainSection(_Section):
    steps: int = Field(12, ge=1)
    prompts_per_step: int = Field(4, ge=1)
    group_size: int = Field(4, ge=2)  # RLOO needs at least two samples per prompt
    micro_batch: int = Field(8, ge=1)  # completions per forward/backward
    learning_rate: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    kl_coef: float = Field(0.0, ge=0)  # KL to the frozen reference (the base model)
    answer_temperature: float = Field(0.7, ge=0)
    max_new_tokens: int = Field(16, ge=1)
    seed: int = 0
    checkpoint_every: int = Field(3, ge=1)
    reward: str = "math"  # math, or grpc://HOST:PORT: a Benchmark server's Grade
    tensorboard: bool = False


class EvalSection(_Section):
    samples: int = Field(4, ge=1)
    ks: list[int] = [1, 4]
    modes: list[str] = ["hard-greedy", "fuzzy-greedy", "fuzzy-sample"]
    max_new_tokens: int = Field(16, ge=1)
    thinking_tokens: int = Field(32, ge=0)
    batch_size: int = Field(16, ge=1)


class RunConfig(_Section):
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    thinking: ThinkingSection = ThinkingSection()
    train: TrainSection = TrainSection()
    eval: EvalSection = EvalSection()

    def with_overrides(self, **sections: dict[str, Any]) -> RunConfig:
        """A copy with some fields of some sections replaced (validated like a file)."""
        data = self.model_dump()
        for section, fields in sections.items():
            data[section].update({k: v for k, v in fields.items() if v is not None})
        return RunConfig.model_validate(data)


DEFAULT_CONFIG = RunConfig()


def load_config(path: str | Path | None) -> RunConfig:
    """The embedded default, or a TOML/YAML/JSON file; errors name the file and the key."""
    if path is None:
        return DEFAULT_CONFIG
    path = Path(path)
    if not path.is_file():
        shipped = CONFIGS_DIR / f"{path}.toml"
        if shipped.is_file():  # a shipped config by name: `--config paper-llama3b-soft`
            path = shipped
        else:
            raise ValueError(f"config file not found: {path}")
    try:
        text = path.read_text()
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ValueError(f"{path}: config must be .toml, .yaml or .json")
        return RunConfig.model_validate(data)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid {path.suffix[1:].upper()}: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg']}") from None
