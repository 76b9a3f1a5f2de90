"""`codeit run` under a job scheduler: a real tiny-llama run in a subprocess, output piped.

Without a terminal each meta-iteration prints one plain progress line. SIGTERM stops the run
like Ctrl-C: exit status 130, the last finished meta-iteration saved, and `--resume` runs the
rest; resumed with `checkpoint.keep_last = 2`, the run keeps the checkpoint it resumed from and
the two newest.
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

from codeit.config import CodeitConfig

ITERATIONS = 8  # ~0.4 s each: the signal lands after 1-3, and resume runs past keep_last = 2
LINE = re.compile(r"^codeit (\d+)/(\d+) solved \d+/\d+$")


def _start(config: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "codeit.cli", "run", "--config", str(config)]
    return subprocess.Popen(
        [*command, "--run-dir", str(run_dir), "--no-baseline", *extra],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _iterations(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for m in map(LINE.match, lines) if m]


def _logged(run_dir: Path) -> list[int]:
    log = run_dir / "codeit" / "log.jsonl"
    return [json.loads(line)["iteration"] for line in log.read_text().splitlines()]


@pytest.mark.timeout(600)
def test_sigterm_stops_with_130_and_resume_runs_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "tiny.json"
    tiny = {
        "model": {"spec": "tiny-llama", "lora_rank": 4, "lora_alpha": 8, "lora_top_layers": 1},
        "data": {"heldout_tasks": 2, "eval_tasks": 1, "max_grid_size": 8},
        "search": {"samples_per_task": 2, "max_new_tokens": 24, "batch_tasks": 3},
        "buffer": {"mutation_size": 16},
        "train": {"meta_iterations": ITERATIONS, "steps_per_iteration": 1, "batch_size": 2},
        "sandbox": {"workers": 1},
    }
    config.write_text(CodeitConfig.model_validate(tiny).model_dump_json())
    run_dir = tmp_path / "run"
    process = _start(config, run_dir)
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 300
    while not _iterations(lines) and time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line, f"ended before an iteration: {lines}"
        lines.append(line.rstrip("\n"))
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=300)
    lines += rest.splitlines()
    assert process.returncode == 130, lines
    assert lines[-1] == "stopped; the last finished meta-iteration is saved (resume with --resume)"
    done = _logged(run_dir)
    last = done[-1]
    assert done == list(range(1, last + 1)) and last < ITERATIONS
    assert _iterations(lines) == done  # one plain line per iteration
    assert (run_dir / "codeit" / "latest").read_text() == f"step-{last:06d}"

    data = json.loads(config.read_text())
    data["checkpoint"] = {"keep_last": 2}  # may change on resume
    config.write_text(json.dumps(data))
    resumed = _start(config, run_dir, "--resume")
    _, rest = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, rest
    assert _logged(run_dir) == list(range(1, ITERATIONS + 1))
    assert _iterations(rest.splitlines()) == list(range(last + 1, ITERATIONS + 1))
    kept = sorted(p.name for p in (run_dir / "codeit" / "checkpoints").iterdir())
    expected = {last, ITERATIONS - 1, ITERATIONS}
    assert kept == [f"step-{i:06d}" for i in sorted(expected)]
