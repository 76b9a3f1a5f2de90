"""`save_checkpoint` keeps the newest `keep_last` checkpoints of a run (real tiny-llama saves),
never the newest nor a protected one (what a run resumed from), and leaves a crash's hidden
temporary directories to `resume_checkpoint`. A bad `keep_last` is a one-line config error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reasonloop.checkpoint import checkpoint_dir, latest_checkpoint, save_checkpoint
from reasonloop.configfile import CheckpointSection, MethodConfig, load_config_file
from reasonloop.models.loading import load_model


@pytest.fixture(scope="module")
def model_and_optimizer() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = load_model("tiny-llama", device="cpu").model
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3)


def names(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir())


def test_keep_last_2_after_4_checkpoints_keeps_the_2_newest(
    tmp_path: Path, model_and_optimizer
) -> None:
    model, optimizer = model_and_optimizer
    settings = CheckpointSection(keep_last=2)
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, model, optimizer, settings=settings)
    assert names(tmp_path) == ["step-000003", "step-000004"]
    assert latest_checkpoint(tmp_path) == checkpoint_dir(tmp_path, 4)


def test_the_checkpoint_resumed_from_and_the_newest_stay(
    tmp_path: Path, model_and_optimizer
) -> None:
    model, optimizer = model_and_optimizer
    save_checkpoint(tmp_path, 1, model, optimizer)
    save_checkpoint(tmp_path, 2, model, optimizer)
    (tmp_path / "checkpoints" / ".step-000003.a1b2c3.tmp").mkdir()  # a crash's: not a checkpoint
    resumed = checkpoint_dir(tmp_path, 2)
    settings = CheckpointSection(keep_last=1)
    for step in (3, 4, 5):
        save_checkpoint(tmp_path, step, model, optimizer, settings=settings, protect=[resumed])
    assert names(tmp_path) == [".step-000003.a1b2c3.tmp", "step-000002", "step-000005"]


def test_the_default_keeps_3(tmp_path: Path, model_and_optimizer) -> None:
    model, optimizer = model_and_optimizer
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, model, optimizer)
    assert names(tmp_path) == ["step-000003", "step-000004", "step-000005"]


class Config(MethodConfig):
    checkpoint: CheckpointSection = CheckpointSection()


@pytest.mark.parametrize("value", ["0", "-1", '"three"', "2.5"])
def test_a_bad_keep_last_is_one_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / "run.toml"
    path.write_text(f"[checkpoint]\nkeep_last = {value}\n")
    with pytest.raises(ValueError, match=r"checkpoint\.keep_last") as raised:
        load_config_file(path, Config)
    assert "\n" not in str(raised.value)
