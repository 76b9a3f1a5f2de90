"""`train.tensorboard`: every step's record as TensorBoard scalars, read back from the event
file with TensorBoard's own reader; without the extra, one line says how to install it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from reasonloop.rewards import FormatReward
from softcot.trainer import Trainer

TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
LETTER_REWARD = FormatReward("[a-m]")  # rewards differ within groups: the steps learn


@pytest.mark.skipif(
    not TENSORBOARD, reason="TensorBoard is not installed: reasonloop-softcot[tensorboard]"
)
def test_every_step_record_is_logged_as_scalars(tmp_path: Path, tiny_config) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    records = Trainer(
        tiny_config(steps=2, tensorboard=True), tmp_path / "run", reward=LETTER_REWARD
    ).train()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    fields = {name for r in records for name, value in vars(r).items() if value is not None}
    assert set(events.Tags()["scalars"]) == {f"train/{name}" for name in fields}
    for name in ("loss", "reward", "grad_norm", "thinking_steps"):
        logged = [(e.step, e.value) for e in events.Scalars(f"train/{name}")]
        expected = [(r.step, pytest.approx(getattr(r, name), rel=1e-6)) for r in records]
        assert logged == expected  # stored as float32
    assert [r.step for r in records] == [1, 2]


def test_without_tensorboard_the_run_says_how_to_install_it(
    tmp_path: Path, tiny_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # installed or not, it fails to import
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)
    trainer = Trainer(tiny_config(steps=1, tensorboard=True), tmp_path / "run")
    with pytest.raises(ValueError, match=r"pip install reasonloop-softcot\[tensorboard\]") as error:
        trainer.train()
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run" / "tensorboard").exists()
