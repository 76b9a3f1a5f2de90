"""`configfile.check_run_config`: a run directory belongs to one config (codeit and softcot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field

from reasonloop.configfile import (
    CheckpointSection,
    ConfigSection,
    MethodConfig,
    ModelSection,
    check_run_config,
)


class TrainSection(ConfigSection):
    steps: int = Field(10, ge=1)
    levels: tuple[int, ...] = (0, 1)


class Config(MethodConfig):
    model: ModelSection = ModelSection()
    train: TrainSection = TrainSection()
    checkpoint: CheckpointSection = CheckpointSection()


def saved(tmp_path: Path, config: Config) -> Path:
    path = tmp_path / "run.json"
    path.write_text(config.model_dump_json(indent=2))
    return path


def test_a_new_directory_is_anyone_s(tmp_path: Path) -> None:
    check_run_config(tmp_path / "run.json", Config(), resume=False)
    check_run_config(tmp_path / "run.json", Config(), resume=True)


def test_a_used_directory_needs_resume(tmp_path: Path) -> None:
    path = saved(tmp_path, Config())
    with pytest.raises(ValueError, match="already holds a run: pass --resume"):
        check_run_config(path, Config(), resume=False)
    check_run_config(path, Config(), resume=True)  # tuples written as lists compare equal


def test_only_the_keys_that_may_change_may_change(tmp_path: Path) -> None:
    path = saved(tmp_path, Config())
    longer = Config(train=TrainSection(steps=20), checkpoint=CheckpointSection(keep_last=1))
    with pytest.raises(ValueError, match="started with another config"):
        check_run_config(path, longer, resume=True)  # train.steps may not change by default
    check_run_config(path, longer, resume=True, may_change=("checkpoint", "train.steps"))
    other_rank = Config(model=ModelSection(lora_rank=4))
    with pytest.raises(ValueError, match="started with another config"):
        check_run_config(path, other_rank, resume=True, may_change=("checkpoint", "train.steps"))


def test_a_run_saved_before_a_field_existed_is_not_taken_for_its_default(tmp_path: Path) -> None:
    data = Config().model_dump(mode="json")
    del data["model"]["lora_top_layers"]  # older runs adapted every layer
    del data["checkpoint"]  # older runs lack it; it may change anyway
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="started with another config"):
        check_run_config(path, Config(), resume=True)
    del data["model"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="started with another config"):
        check_run_config(path, Config(), resume=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"run\.json:1: invalid JSON"),
        ("[1, 2]", "not a run's config"),
        ('{"model": 3}', "not a run's config"),
    ],
)
def test_a_damaged_saved_config_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        check_run_config(path, Config(), resume=True)
    assert "\n" not in str(caught.value)
