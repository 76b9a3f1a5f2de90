"""The `codeit` CLI as users call it: help, pictures, and one readable error line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from codeit.seeds import SEED_PROGRAMS


def codeit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_help_lists_the_commands() -> None:
    result = codeit("--help")
    assert result.returncode == 0
    for command in ("run", "show", "serve-benchmark"):
        assert command in result.stdout


def test_show_draws_a_task_with_a_program_s_predictions(tmp_path: Path) -> None:
    task_id = sorted(SEED_PROGRAMS)[0]
    program = tmp_path / "p.txt"
    program.write_text(SEED_PROGRAMS[task_id])
    out = tmp_path / "task.png"
    result = codeit("show", task_id, "--program", f"@{program}", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    unknown = codeit("show", "nosuchtask", "--out", str(tmp_path / "x.png"))
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == ["error: no task 'nosuchtask' in arc1-train"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[search]\nsamples_per_task = 0\n")
    config = codeit("run", "--config", str(bad), "--run-dir", str(tmp_path / "run"))
    assert config.returncode == 2
    lines = config.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "samples_per_task" in lines[0]
