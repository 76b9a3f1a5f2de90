"""reasonloop-softcot installs with pip next to the core alone, and its CLI runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_softcot_installs_alone_and_its_cli_runs(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the fresh environment"
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    # pip's interface with uv's cache; the core comes from its directory because it is not
    # on an index, and softcot's metadata alone decides the rest.
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--no-config", "--python", python,
         str(ROOT / "packages" / "core"), str(ROOT / "packages" / "softcot")],
        check=True,
        timeout=900,
        cwd=tmp_path,
    )  # fmt: skip
    softcot = str(venv / "bin" / "softcot")
    help_run = subprocess.run([softcot, "--help"], capture_output=True, text=True, timeout=120)
    assert help_run.returncode == 0, help_run.stderr
    for command in ("train", "eval", "export", "serve-benchmark", "demo"):
        assert command in help_run.stdout
    shipped = subprocess.run(
        [python, "-c", "from softcot.config import load_config; "
         "print(load_config('paper-qwen2.5-3b').model.spec)"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shipped.stdout.strip() == "Qwen/Qwen2.5-3B-Instruct", shipped.stderr
