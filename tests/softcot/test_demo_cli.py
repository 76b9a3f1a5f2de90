"""`softcot demo --model tiny-llama --iterations 1`: the main job, run small (train, then base vs
trained); the options are refused with --testbed, which has a config of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from softcot.cli import app


@pytest.mark.slow  # a whole demo: one RLOO step, then 2 policies x 3 modes on 80 problems
def test_demo_runs_small_with_iterations_and_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--model", "tiny-llama", "--iterations", "1", "--run-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["model"]["spec"] == "tiny-llama"
    assert run["train"]["steps"] == 1
    matrix = json.loads((tmp_path / "eval" / "matrix.json").read_text())
    assert {cell["policy"] for cell in matrix["cells"]} == {"base", "hard"}


def test_demo_refuses_plain_settings_with_testbed(tmp_path: Path) -> None:
    args = ["demo", "--testbed", "--iterations", "2", "--model", "tiny-llama"]
    result = CliRunner().invoke(app, [*args, "--run-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --iterations, --model are settings of the plain demo, not --testbed"
    ]
    assert not any(tmp_path.iterdir())
