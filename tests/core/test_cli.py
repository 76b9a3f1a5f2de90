"""The `reasonloop` CLI: help, the model table without torch, generation, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reasonloop.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "generate" in result.output and "models" in result.output


def test_models_lists_builtins():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "smollm2-135m" in result.output and "tiny-llama" in result.output


def test_models_prints_its_table_without_importing_torch():
    code = (
        "import sys\n"
        "from reasonloop.cli import app\n"
        "app(['models'], standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'transformers' not in sys.modules, 'transformers was imported'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "tiny-llama" in run.stdout and "smollm2-135m" in run.stdout


def test_generate_streams_an_answer_with_thinking():
    result = runner.invoke(
        app,
        [
            "generate",
            "--model",
            "tiny-llama",
            "--prompt",
            "hi",
            "--thinking",
            "soft",
            "--thinking-tokens",
            "4",
            "--max-new-tokens",
            "6",
            "--seed",
            "1",
            "--temperature",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    steps = re.search(r"(\d+) soft thinking steps", result.output)
    assert steps and int(steps.group(1)) <= 4
    # not a terminal (no dim style): a line of its own says where the thinking ends
    assert result.stdout.splitlines().count("--- answer") == 1


def test_generate_with_a_json_schema_file(tmp_path: Path):
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"ok": {"type": "boolean"}},
                "required": ["ok"],
                "additionalProperties": False,
            }
        )
    )
    result = runner.invoke(
        app,
        [
            "generate",
            "--model",
            "tiny-llama",
            "--raw",
            "--prompt",
            "x",
            "--json-schema",
            str(schema),
            "--max-new-tokens",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    answer = result.stdout.strip().splitlines()[0]
    assert json.loads(answer) in ({"ok": True}, {"ok": False})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--model", "tiny-llama", "--thinking", "psychic"], "thinking.mode"),
        (["--model", "tiny-llama", "--max-new-tokens", "0"], "max_new_tokens"),
        (["--model", "tiny-llama", "--json-schema", "/nonexistent.json"], "nonexistent"),
    ],
)
def test_bad_input_is_one_readable_line_and_exit_2(args, message):
    result = runner.invoke(app, ["generate", *args])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:")


def test_the_installed_console_script_answers_help_fast():
    script = Path(sys.executable).parent / "reasonloop"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "generate" in result.stdout
