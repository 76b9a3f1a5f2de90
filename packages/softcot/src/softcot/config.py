"""Training configuration: one validated file (TOML or YAML) per run; unknown keys are errors.

The embedded default (`DEFAULT_CONFIG`) is the CPU main job: SmolLM2-135M-Instruct with LoRA on
the easy levels of the built-in problems, sized to finish within minutes on two cores. The
paper-scale configs shipped in `softcot/configs/` use the paper's models and settings and run
unchanged under `accelerate launch` on GPUs. The CPU testbed's `TestbedConfig` (shipped as
`configs/testbed.toml`, run by `softcot.testbed`) is a run config plus its warm start and the
comparison's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from reasonloop.addresses import AddressError, is_remote, parse_grpc_address
from reasonloop.configfile import (
    CheckpointSection,
    ConfigSection,
    MethodConfig,
    load_config_file,
    with_overrides,
)
from reasonloop.configfile import ModelSection as LoraModelSection

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


class ModelSection(LoraModelSection):
    """core's `[model]` (spec and LoRA) with the training precision."""

    dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    # bf16: compute in bfloat16 autocast over the weights' dtype. With float32 weights this is
    # what full fine-tuning needs: AdamW updates of ~lr 1e-6 round away in bf16 weights (after
    # 10 steps only ~2% of them had changed), but not in float32 master weights.
    mixed_precision: Literal["no", "bf16"] = "no"


class DataSection(ConfigSection):
    # builtin:arith|builtin:ood, a .jsonl file, hf:NAME[:CONFIG], or grpc://HOST:PORT (a
    # Benchmark server's tasks, graded by that server: train.reward is its address)
    train: str = "builtin:arith"
    test: str = "builtin:arith"
    ood: str = "builtin:ood"
    levels: list[int] = Field(
        default_factory=lambda: [0]
    )  # difficulty levels of the built-in family
    train_count: int = Field(default=2000, ge=1)
    test_count: int = Field(default=80, ge=1)
    question_field: str = "question"
    answer_field: str = "answer"

    @field_validator("test", "ood")
    @classmethod
    def _graded_here(cls, source: str) -> str:
        """softcot's evaluation grades with math-verify, which a remote task's id is not for."""
        if source.startswith("grpc://"):
            raise PydanticCustomError(
                "remote_eval",
                "evaluate a Benchmark server's tasks with `reasonloop eval --benchmark grpc://...`",
            )
        return source

    @field_validator("train")
    @classmethod
    def _train_address(cls, source: str) -> str:
        return _checked_address(source)


def _checked_address(spec: str) -> str:
    """A grpc address checked when the config is read (before any work, with one line)."""
    if is_remote(spec):
        try:
            parse_grpc_address(spec)
        except AddressError as error:
            raise PydanticCustomError("address", "{reason}", {"reason": str(error)}) from None
    return spec


ThinkingMode = Literal["hard", "soft", "fuzzy"]


class ThinkingSection(ConfigSection):
    mode: ThinkingMode = "hard"
    temperature: float | None = None  # default 1.0 hard, 0.5 soft, 1e-4 fuzzy
    noise_scale: float = Field(default=0.33, ge=0)
    max_tokens: int = Field(default=24, ge=0)


class TrainSection(ConfigSection):
    steps: int = Field(default=12, ge=1)
    prompts_per_step: int = Field(default=8, ge=1)
    group_size: int = Field(default=8, ge=2)  # RLOO needs at least two samples per prompt
    micro_batch: int = Field(default=32, ge=1)  # completions per forward/backward
    learning_rate: float = Field(default=5e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    kl_coef: float = Field(default=0.0, ge=0)  # KL to the frozen reference (the base model)
    answer_temperature: float = Field(default=0.7, ge=0)
    max_new_tokens: int = Field(default=10, ge=1)
    seed: int = 0
    checkpoint_every: int = Field(default=4, ge=1)
    reward: str = "math"  # math, or grpc://HOST:PORT: a Benchmark server's Grade
    tensorboard: bool = False
    # log the CoT term's and the answer term's gradient norms apart: one more backward pass
    # of the CoT term per micro-batch and a copy of the trainable parameters' gradient
    log_grad_components: bool = True
    # gradient weight of the chain of thought's log-probability (1: the paper's estimator);
    # below 1 damps the noisy Gaussian score of soft/fuzzy steps (softcot.rloo)
    cot_weight: float = Field(default=1.0, ge=0)

    @field_validator("reward")
    @classmethod
    def _reward_address(cls, reward: str) -> str:
        return _checked_address(reward)


class EvalSection(ConfigSection):
    samples: int = Field(default=4, ge=1)
    ks: list[int] = Field(default_factory=lambda: [1, 4])
    modes: list[str] = Field(default_factory=lambda: ["hard-greedy", "fuzzy-greedy", "hard-sample"])
    max_new_tokens: int = Field(default=10, ge=1)
    thinking_tokens: int = Field(default=24, ge=0)
    batch_size: int = Field(default=16, ge=1)


class RunConfig(MethodConfig):
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    thinking: ThinkingSection = ThinkingSection()
    train: TrainSection = Field(default=TrainSection(), validate_default=True)  # checked below
    eval: EvalSection = EvalSection()
    checkpoint: CheckpointSection = CheckpointSection()

    @field_validator("train")
    @classmethod
    def _remote_tasks_graded_remotely(
        cls, train: TrainSection, info: ValidationInfo
    ) -> TrainSection:
        """A Benchmark server's tasks carry no answers: only its Grade can score them."""
        data = info.data.get("data")
        if (
            data is not None
            and data.train.startswith("grpc://")
            and not train.reward.startswith("grpc://")
        ):
            raise PydanticCustomError(
                "remote_reward",
                "data.train is a Benchmark server: train.reward must be its grpc:// address",
            )
        return train


DEFAULT_CONFIG = RunConfig()


def load_config(path: str | Path | None) -> RunConfig:
    """The embedded default, or a TOML/YAML/JSON file (or a shipped config's name)."""
    if path is None:
        return DEFAULT_CONFIG
    return load_config_file(path, RunConfig, CONFIGS_DIR)


# The CPU testbed (`softcot.testbed`): a run config trained from a supervised warm start.


class WarmStartSection(ConfigSection):
    """How the testbed's starting policy is made (every field is part of the cache key)."""

    init: str = "tiny-llama-small"  # a built-in random-init model (its architecture)
    # The weights' init std. The tiny built-ins use a wide 0.2 (peaked outputs for tests);
    # training from scratch wants the usual 0.02.
    init_std: float = Field(default=0.02, gt=0)
    # Problem sources with worked solutions (metadata["thought"]), mixed in equal parts.
    sources: list[str] = Field(
        default_factory=lambda: [
            "builtin:carry?operands=2&digits=2,3,4",
            "builtin:carry?operands=3&digits=2",
        ],
        min_length=1,
    )
    examples: int = Field(default=4000, ge=1)  # train problems drawn from each source
    steps: int = Field(default=300, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=3e-3, gt=0)
    warmup_steps: int = Field(default=20, ge=0)
    seed: int = 0


WARM_START_SPEC = "warmstart"  # model.spec of a testbed config: replaced by the warm start


class TestbedSection(ConfigSection):
    """What the testbed compares: the train modes, their seeds and the held-out checks."""

    modes: list[ThinkingMode] = Field(
        default_factory=lambda: ["hard", "soft", "fuzzy"], min_length=1
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    # held-out family problems (and worked solutions scored)
    ood_count: int = Field(default=64, ge=1)
    # held-out worked solutions whose likelihood is taken
    heldout_texts: int = Field(default=16, ge=1)


class TestbedConfig(RunConfig):
    """A run config (model.spec = "warmstart") plus the warm start and the testbed settings.

    `full` holds overrides, section by section, that `--full` applies (the shipped config's:
    more seeds and problems, tighter intervals for more time).
    """

    warmstart: WarmStartSection = WarmStartSection()
    testbed: TestbedSection = TestbedSection()
    full: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("model")
    @classmethod
    def _trains_the_warm_start(cls, model: ModelSection) -> ModelSection:
        if model.spec != WARM_START_SPEC:
            raise PydanticCustomError(
                "testbed_spec",
                f'the testbed trains its warm start: model.spec must be "{WARM_START_SPEC}" '
                "(choose the model with warmstart.init)",
            )
        return model

    def full_settings(self) -> TestbedConfig:
        """This config with the `full` overrides applied (validated like a file)."""
        return with_overrides(self.model_copy(update={"full": {}}), **self.full)

    def run_config(self, spec: str | Path, mode: str, seed: int) -> RunConfig:
        """The trainer's config for one (mode, seed) run from the warm start at `spec`."""
        data = self.model_dump(exclude={"warmstart", "testbed", "full"})
        data["model"]["spec"] = str(spec)
        data["thinking"]["mode"] = mode
        data["train"]["seed"] = seed
        return RunConfig.model_validate(data)


def load_testbed_config(path: str | Path | None = None, *, full: bool = False) -> TestbedConfig:
    """The shipped `testbed` config, or a file; `full` applies its `full` overrides."""
    config = load_config_file(path or "testbed", TestbedConfig, CONFIGS_DIR)
    try:
        return config.full_settings() if full else config
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"the config's [full] overrides are invalid: {error}") from None
