"""`softcot train --resume` after a crash: a torn last log line, a checkpoint left half-written.

The crash is made by hand on a real 3-step run (the state a kill during step 3's checkpoint
leaves): the last log line cut in half, step 3's checkpoint directory back to the hidden
temporary name `save_checkpoint` writes it under, `latest` on step 2. Resuming removes the
leftover, drops the torn line, says each in one line, and logs every step once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from softcot.cli import app


def train(config: Path, out: Path, *flags: str):
    return CliRunner().invoke(
        app, ["train", "--config", str(config), "--run-dir", str(out), *flags]
    )


def test_resume_after_a_crash_drops_the_torn_line_and_the_leftover(
    tmp_path: Path, tiny_config
) -> None:
    config = tmp_path / "tiny.json"
    config.write_text(tiny_config(steps=3).model_dump_json())
    run = tmp_path / "run"
    assert train(config, run).exit_code == 0
    log = run / "log.jsonl"
    straight = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in straight] == [1, 2, 3]

    checkpoints = run / "checkpoints"
    (checkpoints / "step-000003").rename(checkpoints / ".step-000003.k2x9a1.tmp")
    (run / "latest").write_text("step-000002")
    text = log.read_text()
    log.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])  # step 3, torn

    result = train(config, run, "--resume")
    assert result.exit_code == 0, result.output[-2000:]
    notes = result.stderr.splitlines()
    torn = [
        n for n in notes if re.match(r"note: .*log\.jsonl: resuming without the torn line 3", n)
    ]
    removed = [
        n for n in notes if re.match(r"note: .*removed checkpoints/\.step-000003\.\w+\.tmp", n)
    ]
    assert len(torn) == 1 and len(removed) == 1, notes
    resumed = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in resumed] == [1, 2, 3]  # each step once
    assert resumed[:2] == straight[:2]
    assert resumed[2]["reward"] == straight[2]["reward"]  # step 3 sampled again, the same
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-000002", "step-000003"]
