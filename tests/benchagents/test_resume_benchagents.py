"""`benchagents create --resume` after a crash at a stage boundary: a torn last log line and a
temporary file an interrupted atomic write left.

A real run stops after planning; the crash is then made by hand: the log's last line is the
half-written `stage_started` of generation, and generation's raw.jsonl write left its hidden
temporary file. Resuming removes the leftover, drops the torn line, says each in one line,
and logs each stage's start and finish once.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from benchagents.cli import app

FAST = [
    "--backend", "tiny-llama", "--count", "4", "--samples", "1", "--limit", "2",
    "--max-new-tokens", "4", "--no-rewrite", "--llm-checks", "off",
]  # fmt: skip


def test_resume_after_a_crash_drops_the_torn_line_and_the_leftover(tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["create", "calendar", "--auto", "--run-dir", str(run), "--stop-after", "planning"]
    created = CliRunner().invoke(app, [*argv, *FAST])
    assert created.exit_code == 0, created.output[-2000:]
    assert json.loads((run / "state.json").read_text())["stage"] == "generation"
    log = run / "log.jsonl"
    with log.open("a") as file:
        file.write('{"time": "2026-01-01T00:00:00+00:00", "event": "stage_sta')  # torn
    leftover = run / "instances" / ".raw.jsonl.w8d1qe.tmp"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_text('{"id": "cal-000", "pro')
    torn_line = len(log.read_text().splitlines())

    result = CliRunner().invoke(
        app, ["create", "--resume", "--run-dir", str(run), "--auto", "--stop-after", "generation"]
    )
    assert result.exit_code == 0, result.output[-2000:]
    notes = result.stderr.splitlines()
    torn = [n for n in notes if re.match(rf"note: .*log\.jsonl: .*torn line {torn_line} ", n)]
    removed = [n for n in notes if re.match(r"note: .*removed instances/\.raw\.jsonl\.", n)]
    assert len(torn) == 1 and len(removed) == 1, notes
    assert not leftover.exists()
    events = Counter(
        (r["event"], r.get("stage")) for r in map(json.loads, log.read_text().splitlines())
    )
    for stage in ("planning", "generation"):
        assert events["stage_started", stage] == 1 and events["stage_finished", stage] == 1
    assert len((run / "instances" / "raw.jsonl").read_text().splitlines()) == 4
