"""Configs: shipped files validate, unknown keys and bad values are one clear CLI line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from softcot.cli import app
from softcot.config import CONFIGS_DIR, DEFAULT_CONFIG, load_config


def test_default_file_is_the_embedded_default() -> None:
    assert load_config(CONFIGS_DIR / "default.toml") == DEFAULT_CONFIG
    assert load_config(None) == DEFAULT_CONFIG


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS_DIR.glob("paper-*.toml")))
def test_paper_configs_validate(name: str) -> None:
    config = load_config(name)  # by name, as `--config paper-...` accepts
    assert config.thinking.noise_scale == 0.33
    assert max(config.eval.ks) == 32 and config.eval.samples == 32
    assert config.thinking.max_tokens >= 256
    # Trained weights are float32: full fine-tuning at lr 1e-6 loses its updates in bf16.
    assert config.model.lora or (config.model.dtype, config.model.mixed_precision) == (
        "float32",
        "bf16",
    )


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("thinking:\n  mode: fuzzy\ntrain:\n  steps: 3\n")
    config = load_config(path)
    assert (config.thinking.mode, config.train.steps) == ("fuzzy", 3)
    assert config.with_overrides(train={"steps": 5, "seed": None}).train.steps == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\nstepz = 3\n", "train.stepz: Extra inputs are not permitted"),
        ("[train]\ngroup_size = 1\n", "train.group_size"),
        ("[thinking]\nmode = 'warm'\n", "thinking.mode"),
        ("[train\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 2
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_config_and_dataset_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "config file not found" in result.output
    bad_data = tmp_path / "data.toml"
    bad_data.write_text(f"[data]\ntrain = '{tmp_path / 'missing.jsonl'}'\n")
    result = CliRunner().invoke(
        app, ["train", "--config", str(bad_data), "--run-dir", str(tmp_path / "run")]
    )
    assert result.exit_code == 2 and "missing.jsonl" in result.output
