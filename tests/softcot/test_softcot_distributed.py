"""Two processes under `accelerate launch` train exactly what one process trains.

Real launches on CPU (gloo): `softcot train` once in a single process, and once as two
processes (one step, then `--resume` for the second), both on the tiny model. The LoRA adapter
of the last checkpoint and every logged step must agree.

Why tolerances: the two runs do the same arithmetic in different batch shapes (two prompts
left-padded into one prefill vs one prompt per process; six completions teacher-forced in
micro-batches of 4 + 2 vs 3 per process) and sum gradients in another order, so float32
results differ in the last bits: losses and gradient norms agree to ~1e-6 relative, while
sampled tokens, rewards and counts are discrete and equal. Adam then divides each gradient
entry by its own running size, so an entry whose gradient is ~0 (at the level of that noise)
moves by an arbitrary fraction of the learning rate in either run. Hence the weights: nearly
every entry within 1e-5, and the whole difference far smaller than what training moved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reasonloop.metrics import read_jsonl

# The random tiny model never solves a problem; rewarding a letter it sometimes writes gives
# groups with different rewards, so the runs really train.
REWARD = "format:[a-m]"
LOG = "log.jsonl"
DISCRETE = ("step", "reward", "correct", "format", "thinking_steps", "answer_tokens")
CONTINUOUS = ("loss", "grad_norm", "clip_coef", "cot_grad_norm", "answer_grad_norm", "cot_log_prob")


def _env() -> dict[str, str]:
    """CPU only (gloo, even where a GPU exists) and one thread per process: 2 cores here."""
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}


def _train(launcher: list[str], config: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    command = [*launcher, "-m", "softcot.cli", "train", "--config", str(config)]
    return subprocess.Popen(
        [*command, "--run-dir", str(out), *extra],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> None:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output


def _adapter(run: Path) -> dict:
    from safetensors.torch import load_file

    latest = run / "checkpoints" / (run / "latest").read_text().strip()
    return load_file(latest / "weights" / "adapter_model.safetensors")


@pytest.mark.slow
@pytest.mark.e2e  # five torch processes and three launches: with -m e2e, which CI runs
@pytest.mark.timeout(1200)  # three launches, torch imported per process: ~5 min on 2 busy cores
def test_two_processes_train_like_one(tmp_path: Path, tiny_config) -> None:
    import torch

    config = tmp_path / "tiny.json"
    config.write_text(tiny_config(steps=2, reward=REWARD).model_dump_json())
    two = [
        *(sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"),
        *("--num_processes", "2", "--num_machines", "1", "--main_process_port", "0"),
        *("--num_cpu_threads_per_process", "1", "--mixed_precision", "no"),
        *("--dynamo_backend", "no"),
    ]
    single = _train([sys.executable], config, tmp_path / "one")  # runs beside the first launch
    _finish(_train(two, config, tmp_path / "two", "--iterations", "1"))
    _finish(_train(two, config, tmp_path / "two", "--iterations", "2", "--resume"))
    _finish(single)

    one_log, two_log = read_jsonl(tmp_path / "one" / LOG), read_jsonl(tmp_path / "two" / LOG)
    assert [r["step"] for r in two_log] == [1, 2]  # one writer, resume kept step 1 once
    assert any(r["grad_norm"] > 0 for r in one_log)  # the runs did learn something
    for a, b in zip(one_log, two_log, strict=True):
        assert {k: a[k] for k in DISCRETE} == {k: b[k] for k in DISCRETE}
        assert [b[k] for k in CONTINUOUS] == pytest.approx([a[k] for k in CONTINUOUS], rel=1e-4)

    one, two_weights = _adapter(tmp_path / "one"), _adapter(tmp_path / "two")
    assert one.keys() == two_weights.keys()
    difference = torch.cat([(two_weights[k] - w).flatten() for k, w in one.items()])
    moved = torch.cat([w.flatten() for k, w in one.items() if "lora_B" in k])  # zero at init
    assert float(moved.norm()) > 0.1
    assert float((difference.abs() <= 1e-5).float().mean()) >= 0.98
    assert float(difference.norm()) <= 1e-2 * float(moved.norm())
    assert json.loads((tmp_path / "two" / "run.json").read_text())["train"]["reward"] == REWARD
