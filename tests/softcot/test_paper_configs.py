"""The paper-scale configs run right the first time: sized by the dry run, rehearsed on tiny.

Each `paper-*.toml` is sized by `softcot.estimate` (what `softcot train --dry-run` prints) and
trained for one real step with everything it sets -- LoRA or full fine-tuning, float32 master
weights with bf16 autocast, the thinking mode, learning rate, answer temperature, gradient
logging -- except the model (tiny-llama), the data (the shipped GSM8K-format sample) and the
sizes, which shrink to a few tokens.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

import softcot
from softcot.cli import app
from softcot.config import CONFIGS_DIR, RunConfig, load_config
from softcot.estimate import GB, estimate
from softcot.evaluation import INFERENCE_MODES
from softcot.trainer import Trainer

PAPER = sorted(p.stem for p in CONFIGS_DIR.glob("paper-*.toml"))
SAMPLE = Path(softcot.__file__).parent / "data" / "gsm8k_sample.jsonl"
# parameter counts of the paper's models (their model cards: 8.03 B, 3.21 B, 3.09 B)
PARAMETERS = {
    "meta-llama/Llama-3.1-8B-Instruct": 8.03e9,
    "meta-llama/Llama-3.2-3B-Instruct": 3.21e9,
    "Qwen/Qwen2.5-3B-Instruct": 3.09e9,
}


def rehearsal(config: RunConfig) -> RunConfig:
    """`config` on tiny-llama and the local sample, a few tokens long, one step."""
    return config.with_overrides(
        model={"spec": "tiny-llama"},
        data={"train": str(SAMPLE), "test": str(SAMPLE), "train_count": 16, "test_count": 2},
        thinking={"max_tokens": 4},
        train={
            "steps": 1,
            "prompts_per_step": 2,
            "group_size": 2,
            "micro_batch": 2,
            "max_new_tokens": 4,
            "checkpoint_every": 1,
        },
    )


def test_there_are_paper_configs():
    assert len(PAPER) == 3


@pytest.mark.parametrize("name", PAPER)
def test_paper_config_fits_one_gpu_per_process(name: str) -> None:
    config = load_config(name)
    plan = estimate(config, processes=8)
    assert plan.arch.parameters == pytest.approx(PARAMETERS[config.model.spec], rel=2e-3)
    assert plan.arch.adapted_layers == plan.arch.layers  # paper scale adapts every layer
    assert plan.rows == config.train.prompts_per_step * config.train.group_size // 8
    assert plan.peak < plan.gpu.memory
    assert 0 < plan.hours < 100
    assert {m for m in config.eval.modes} <= {m.name for m in INFERENCE_MODES}
    # one process holds every row's KV cache; LoRA 8B and full 3B still fit one 80 GB GPU
    alone = estimate(config, processes=1)
    assert alone.memory["sampling KV cache"] == pytest.approx(
        8 * plan.memory["sampling KV cache"], rel=1e-9
    )
    assert alone.peak < alone.gpu.memory


@pytest.mark.parametrize("name", PAPER)
def test_paper_config_trains_on_tiny(tmp_path: Path, name: str) -> None:
    config = rehearsal(load_config(name))
    assert config.model.lora == load_config(name).model.lora
    (record,) = Trainer(config, tmp_path / "run").train()
    assert math.isfinite(record.loss) and math.isfinite(record.grad_norm)
    assert record.thinking_steps > 0 and math.isfinite(record.cot_log_prob)
    assert (record.cot_grad_norm is None) == (not config.train.log_grad_components)
    assert (tmp_path / "run" / "latest").read_text() == "step-000001"


def test_dry_run_cli_prints_the_plan_and_refuses_bad_process_counts() -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["train", "--config", "paper-qwen2.5-3b", "--dry-run", "--processes", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "32 prompts x group 8 = 256 completions a step (64 per process on 4)" in result.output
    assert "GPU-hours for 2000 steps" in result.output and "assumed: H100" in result.output
    assert not list(Path.cwd().glob("runs/softcot-soft"))  # nothing trained, nothing written
    bad = runner.invoke(
        app, ["train", "--config", "paper-qwen2.5-3b", "--dry-run", "--processes", "5"]
    )
    assert bad.exit_code == 2
    assert "processes must divide train.prompts_per_step (32)" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    assert estimate(load_config("paper-qwen2.5-3b")).peak > 50 * GB  # weights + grads + Adam
