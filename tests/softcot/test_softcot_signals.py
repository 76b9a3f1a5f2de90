"""`softcot train` under a job scheduler: real runs of the tiny model in a subprocess.

Output piped (no terminal, as under nohup or SLURM) shows one plain progress line per step.
SIGTERM (what a scheduler sends before preempting) stops the run like Ctrl-C: the step in
flight finishes, a checkpoint is saved, the exit status is 130 and `--resume` goes on. Two
SIGINTs 50 ms apart (`uv run` forwards one Ctrl-C to the whole group) still save. A resumed run
with `checkpoint.keep_last = 1` keeps the checkpoint it resumed from and the newest only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STEPS = 200  # far more than the test waits for: a run only ends when signalled
REWARD = "format:[a-m]"
LINE = re.compile(r"^soft RLOO (\d+)/(\d+) reward ")


def _start(config: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "softcot.cli", "train", "--config", str(config)]
    return subprocess.Popen(
        [*command, "--run-dir", str(out), *extra],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _after_first_step(process: subprocess.Popen[str]) -> list[str]:
    """Read stderr until the first progress line (the run is inside its loop); its lines."""
    assert process.stderr is not None
    lines = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line, f"ended before a step: {''.join(lines)}"
        lines.append(line.rstrip("\n"))
        if LINE.match(lines[-1]):
            return lines
    raise AssertionError(f"no step within 300 s: {lines}")


def _finish(process: subprocess.Popen[str], lines: list[str]) -> tuple[int, list[str]]:
    _, rest = process.communicate(timeout=300)
    return process.returncode, lines + rest.splitlines()


def _steps(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for m in map(LINE.match, lines) if m]


def _logged(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


def _checkpoints(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir())


def _config(tmp_path: Path, tiny_config, checkpoint_every: int) -> Path:
    path = tmp_path / "tiny.json"
    config = tiny_config(steps=STEPS, checkpoint_every=checkpoint_every, reward=REWARD)
    path.write_text(config.model_dump_json())
    return path


@pytest.mark.timeout(900)
def test_sigterm_saves_exits_130_and_resume_continues(tmp_path: Path, tiny_config) -> None:
    config = _config(tmp_path, tiny_config, checkpoint_every=1)
    run = tmp_path / "run"
    process = _start(config, run)
    lines = _after_first_step(process)
    process.send_signal(signal.SIGTERM)
    status, lines = _finish(process, lines)
    assert status == 130, lines
    stopped = _logged(run)
    last = stopped[-1]
    assert stopped == list(range(1, last + 1)) and last < STEPS
    assert _steps(lines) == stopped  # one plain line per step, no bar
    assert (run / "latest").read_text() == f"step-{last:06d}"
    assert lines[-1] == f"stopped at step {last}, saved; continue with --resume"
    assert _checkpoints(run) == [f"step-{s:06d}" for s in stopped[-3:]]  # keep_last's default

    # resumed with keep_last = 1 (it may change on resume): two more steps
    data = json.loads(config.read_text())
    data["checkpoint"] = {"keep_last": 1}
    config.write_text(json.dumps(data))
    status, lines = _finish(_start(config, run, "--resume", "--iterations", str(last + 2)), [])
    assert status == 0, lines
    assert _logged(run) == list(range(1, last + 3))
    assert _steps(lines) == [last + 1, last + 2]
    # the one resumed from and the newest; step last + 1 removed
    assert _checkpoints(run) == [f"step-{last:06d}", f"step-{last + 2:06d}"]


@pytest.mark.timeout(600)
def test_two_sigints_50_ms_apart_still_save(tmp_path: Path, tiny_config) -> None:
    config = _config(tmp_path, tiny_config, checkpoint_every=10_000)  # saved when stopped only
    run = tmp_path / "run"
    process = _start(config, run)
    lines = _after_first_step(process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    status, lines = _finish(process, lines)
    assert status == 130, lines
    last = _logged(run)[-1]
    assert _checkpoints(run) == [f"step-{last:06d}"]
    assert (run / "checkpoints" / f"step-{last:06d}" / "trainer_state.pt").is_file()
    assert not any("Traceback" in line for line in lines), lines
