"""reasonloop-core installs on its own into a fresh virtual environment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_core_installs_alone_and_its_cli_runs(tmp_path: Path):
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the fresh environment"
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    # `uv pip install --no-config` is pip's interface with uv's cache: the package's own
    # metadata only (none of the workspace's settings), without downloading torch again.
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-config",
            "--python",
            python,
            str(ROOT / "packages" / "core"),
        ],
        check=True,
        timeout=900,
        cwd=tmp_path,
    )
    installed = subprocess.run(
        [uv, "pip", "list", "--no-config", "--python", python],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert "llama-cpp-python" not in installed  # a plain install compiles nothing
    help_run = subprocess.run(
        [str(venv / "bin" / "reasonloop"), "--help"], capture_output=True, text=True, timeout=120
    )
    assert help_run.returncode == 0, help_run.stderr
    assert "generate" in help_run.stdout
    run = subprocess.run(
        [
            str(venv / "bin" / "reasonloop"),
            "generate",
            "--model",
            "tiny-llama",
            "--prompt",
            "hi",
            "--max-new-tokens",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "tokens)" in run.stderr
