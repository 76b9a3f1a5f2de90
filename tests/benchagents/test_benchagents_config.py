"""benchagents' sectioned run config: `--config FILE` and `--set SECTION.KEY=VALUE` as the other
CLIs take them, and runs created before the sections (a flat config in state.json, a flat
config file, a flat `--set` key) still read, converted in one place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchagents.cli import app
from benchagents.config import FLAT_FIELDS, RunConfig, load_config, sectioned

runner = CliRunner()
FAST = [
    "--backend", "tiny-llama", "--seed", "3", "--count", "4", "--samples", "1", "--limit", "2",
    "--max-new-tokens", "4", "--no-rewrite", "--llm-checks", "off",
]  # fmt: skip
# The config of FAST as the flat RunConfig before the sections wrote it into state.json
# (printed by that code: RunConfig(...).model_dump_json()), here with review on.
OLD_CONFIG = {
    "domain": "calendar",
    "count": 4,
    "seed": 3,
    "backend": "tiny-llama",
    "targets": [],
    "samples": 1,
    "eval_limit": 2,
    "eval_max_tokens": 4,
    "eval_temperature": 0.7,
    "metric": "strict",
    "llm_generator": False,
    "rewrite": False,
    "llm_checks": "off",
    "llm_check_limit": 10,
    "description": None,
    "draft": None,
    "review": True,
}


def invoke(*args: str):
    return runner.invoke(app, list(args))


def state(run: Path) -> dict:
    return json.loads((run / "state.json").read_text())


def final_outputs(run: Path) -> tuple[str, str]:
    answers = run / "evaluation" / "tiny-llama" / "answers.jsonl"
    return (run / "dataset" / "v1" / "instances.jsonl").read_text(), answers.read_text()


def test_a_run_with_the_old_flat_state_resumes_with_its_settings(tmp_path: Path) -> None:
    """A state.json as a run created before the sections left it (created, review on) is read,
    resumed in auto mode, saved in sections, and makes what a new run with the same options
    makes."""
    new = tmp_path / "new"
    assert invoke("create", "calendar", "--auto", "--run-dir", str(new), *FAST).exit_code == 0
    old = tmp_path / "old"
    old.mkdir()
    old_state = {
        "domain": "calendar",
        "stage": "planning",
        "awaiting_review": False,
        "config": OLD_CONFIG,
        "dataset": None,
        "history": [],
    }
    (old / "state.json").write_text(json.dumps(old_state, indent=2) + "\n")
    shown = invoke("show", "--run-dir", str(old))
    assert shown.exit_code == 0 and "stage: planning" in shown.output, shown.output
    resumed = invoke("create", "--resume", "--run-dir", str(old), "--auto")
    assert resumed.exit_code == 0, resumed.output
    saved = state(old)
    assert saved["stage"] == "done"
    assert saved["config"] == RunConfig.for_domain("calendar").model_dump(mode="json") | {
        "backend": {"spec": "tiny-llama"},
        "generation": {"count": 4, "rewrite": False, "llm_generator": False},
        "verification": {"llm_checks": "off", "llm_check_limit": 10},
        "evaluation": {
            "targets": [],
            "samples": 1,
            "limit": 2,
            "max_new_tokens": 4,
            "temperature": 0.7,
            "metric": "strict",
        },
        "run": {"seed": 3, "review": False},  # --auto changed it
    }
    assert final_outputs(old) == final_outputs(new)
    assert saved["config"] == state(new)["config"]


def test_a_sectioned_config_file_then_shortcuts_then_set(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        '[domain]\nname = "calendar"\n[backend]\nspec = "tiny-llama"\n'
        "[generation]\ncount = 7\nrewrite = false\n[evaluation]\nsamples = 3\ntemperature = 0\n"
    )
    run = tmp_path / "run"
    result = invoke(
        "create", "--config", str(config), "--count", "5", "--set", "evaluation.samples=2",
        "--set", "run.seed=9", "--stop-after", "planning", "--run-dir", str(run),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = state(run)["config"]
    assert saved["generation"] == {"count": 5, "rewrite": False, "llm_generator": False}
    assert saved["evaluation"]["samples"] == 2 and saved["evaluation"]["temperature"] == 0
    assert saved["backend"] == {"spec": "tiny-llama"} and saved["run"]["seed"] == 9


def test_an_old_flat_set_key_warns_and_sets_its_field(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["create", "calendar", "--set", "eval_temperature=0", "--set", "count=5"]
    result = invoke(
        *args, "--backend", "tiny-llama", "--stop-after", "planning", "--run-dir", str(run)
    )
    assert result.exit_code == 0, result.output
    assert "--set eval_temperature: the flat key is deprecated; use evaluation.temperature" in (
        result.stderr
    )
    saved = state(run)["config"]
    assert saved["evaluation"]["temperature"] == 0 and saved["generation"]["count"] == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[domain]\nname = "calendar"\n[generation]\ncount = 0\n', "generation.count: Input"),
        ('[domain]\nname = "calendar"\n[generation]\nnope = 1\n', "generation.nope: Extra"),
        ("[generation]\ncount = 3\n", "domain: Field required"),
        # a flat `domain` beside sections is neither shape
        ('domain = "calendar"\n[generation]\ncount = 3\n', "domain: Input should be"),
        ('domain = "calendar"\nnope = 1\n', "nope: Extra inputs"),  # flat, with a stray key
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "run.toml"
    config.write_text(text)
    result = invoke("create", "--config", str(config), "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert f"{config}: " in line and message in line
    assert not (tmp_path / "run").exists()


def test_a_flat_config_file_reads_as_its_sections(tmp_path: Path) -> None:
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(OLD_CONFIG))
    config = load_config(flat)
    assert config.domain.name == "calendar" and config.backend.spec == "tiny-llama"
    assert config.evaluation.limit == 2 and config.evaluation.max_new_tokens == 4
    assert config.run.review is True and config.verification.llm_checks == "off"
    # every flat field has its place, and each place is a field of its section
    assert set(FLAT_FIELDS) == set(OLD_CONFIG)
    defaults = RunConfig.for_domain("calendar").model_dump()
    for place in FLAT_FIELDS.values():
        section, field = place.split(".")
        assert field in defaults[section], place
    assert sectioned(config.model_dump()) == config.model_dump()  # the new shape: as it is
