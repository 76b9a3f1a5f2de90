"""One command-line grammar across reasonloop, softcot, codeit and benchagents.

The README's table of shared options is compared with the real `--help` of every command (a
listed option must be shown, with one help text across the CLIs; a command that gains a shared
option must be listed), `--set` applies and refuses, and a bad remote address or device is
exit 2 with one line naming the option, before any work (no run directory is created).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from reasonloop.cli_options import BENCHMARK_PORTS

ROOT = Path(__file__).resolve().parents[2]
CLIS = ("reasonloop", "softcot", "codeit", "benchagents")
OWN_HELP = {"--out"}  # one idea (the command's one output), described per command
NONE = "\u2013"  # an en dash: no command of that CLI
runner = CliRunner()


def _app(cli: str) -> typer.Typer:
    return importlib.import_module("reasonloop.cli" if cli == "reasonloop" else f"{cli}.cli").app


def _commands(cli: str) -> dict[str, Any]:
    """The visible commands of `cli`, as the click commands `--help` is rendered from."""
    group = get_command(_app(cli))
    return {name: c for name, c in group.commands.items() if not c.hidden}  # type: ignore[attr-defined]


def _options(command: Any) -> dict[str, str]:
    """The visible long options of `command` with their help texts."""
    return {
        name: param.help or ""
        for param in command.params
        if param.param_type_name == "option" and not param.hidden
        for name in param.opts
        if name.startswith("--")
    }


def _table() -> list[tuple[str, str, dict[str, list[str]]]]:
    """(meaning, option, {cli: commands}) of each row of the README's grammar table."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The command lines: one grammar", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 + len(CLIS) or not cells[1].startswith("`--"):
            continue
        option = cells[1].strip("`").split()[0]
        listed = {
            cli: [] if cell == NONE else [name.strip() for name in cell.split(",")]
            for cli, cell in zip(CLIS, cells[2:], strict=True)
        }
        rows.append((cells[0], option, listed))
    return rows


TABLE = _table()


def test_the_table_is_there() -> None:
    options = {option for _, option, _ in TABLE}
    assert {"--config", "--set", "--run-dir", "--resume", "--seed", "--device"} <= options
    assert {"--iterations", "--limit", "--host", "--port", "--auth-token", "--tls-cert"} <= options


@pytest.mark.parametrize(("meaning", "option", "listed"), TABLE, ids=[row[0] for row in TABLE])
def test_each_row_is_what_the_help_says(
    meaning: str, option: str, listed: dict[str, list[str]]
) -> None:
    helps = {}
    for cli, names in listed.items():
        commands = _commands(cli)
        for name in names:
            assert name in commands, f"{cli} has no command {name} ({meaning})"
            options = _options(commands[name])
            assert option in options, f"{cli} {name} has no {option} ({meaning})"
            helps[f"{cli} {name}"] = options[option]
            shown = runner.invoke(_app(cli), [name, "--help"], env={"TERMINAL_WIDTH": "200"})
            assert shown.exit_code == 0, shown.output
            assert re.search(rf"{re.escape(option)}\b", shown.output), f"{cli} {name} --help"
    assert helps, meaning
    if option not in OWN_HELP:  # declared once (reasonloop.cli_options): one text
        assert len(set(helps.values())) == 1, helps


def test_every_command_with_a_shared_option_is_listed() -> None:
    listed = {
        (option, cli, name)
        for _, option, commands in TABLE
        for cli, names in commands.items()
        for name in names
    }
    shared = {option for _, option, _ in TABLE}
    unlisted = [
        (option, cli, name)
        for cli in CLIS
        for name, command in _commands(cli).items()
        for option in _options(command)
        if option in shared and (option, cli, name) not in listed
    ]
    assert unlisted == []


def test_benchmark_servers_have_their_own_default_ports() -> None:
    defaults = {}
    for cli in CLIS:
        (port,) = [p for p in _commands(cli)["serve-benchmark"].params if p.name == "port"]
        (auth,) = [p for p in _commands(cli)["serve-benchmark"].params if p.name == "auth_token"]
        assert auth.envvar == "REASONLOOP_AUTH_TOKEN"
        defaults[cli] = port.default
    assert defaults == BENCHMARK_PORTS
    assert len(set(defaults.values())) == len(CLIS)


def _one_error(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    return errors[0]


@pytest.mark.parametrize(
    ("cli", "args", "message"),
    [
        ("reasonloop", ["eval", "--model", "grpc://h:99999"], "--model: port '99999'"),
        ("reasonloop", ["eval", "--benchmark", "grpc:h:1"], "--benchmark: 'grpc:h:1' is not"),
        ("reasonloop", ["eval", "--benchmark", "https://h:1"], "unsupported scheme 'https'"),
        ("reasonloop", ["eval", "--model", "grpc://a:1,b c:2"], "'b c' is not a host name"),
        ("benchagents", ["create", "calendar", "--backend", "grpc://nohost"], "--backend:"),
        ("benchagents", ["create", "calendar", "--target", "grpc://[::1:5"], "IPv6"),
        ("benchagents", ["create", "calendar", "--target", "grpc://h:0"], "--target: port '0'"),
        ("benchagents", ["create", "calendar", "--set", "backend=grpc://h:"], "port ''"),
        ("benchagents", ["evaluate", "--target", "grpc://h:70000"], "--target: port"),
        ("softcot", ["train", "--set", "data.train=grpc://h:0"], "data.train: port '0'"),
        ("softcot", ["train", "--set", "train.reward=grpc:h:1"], "train.reward: 'grpc:h:1'"),
    ],
)
def test_a_bad_address_is_refused_before_any_work(
    cli: str, args: list[str], message: str, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    where = ["--out", str(run)] if cli == "reasonloop" else ["--run-dir", str(run)]
    result = runner.invoke(_app(cli), [*args, *where])
    assert result.exit_code == 2, result.output
    assert message in _one_error(result.output)
    assert not run.exists()


@pytest.mark.parametrize(
    ("cli", "command"),
    [
        ("reasonloop", ["generate"]),
        ("softcot", ["train"]),
        ("codeit", ["run"]),
        ("benchagents", ["create", "calendar"]),
    ],
)
def test_a_bad_device_is_refused(cli: str, command: list[str], tmp_path: Path) -> None:
    result = runner.invoke(_app(cli), [*command, "--device", "cuda:x"])
    assert result.exit_code == 2, result.output
    line = _one_error(result.output)
    assert line == "error: --device: 'cuda:x' is not a device; use cpu, cuda, cuda:N, mps or auto"


@pytest.mark.parametrize("command", ["generate", "serve"])
def test_a_bad_dtype_is_refused(command: str) -> None:
    result = runner.invoke(_app("reasonloop"), [command, "--dtype", "int8"])
    assert result.exit_code == 2, result.output
    line = _one_error(result.output)
    assert line == "error: --dtype: 'int8' is not one of auto, float32, bfloat16, float16"


def test_generate_decodes_in_bfloat16() -> None:
    result = runner.invoke(
        _app("reasonloop"),
        [
            "generate",
            "--prompt",
            "hi",
            "--model",
            "tiny-llama",
            "--dtype",
            "bfloat16",
            "--max-new-tokens",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(length, 2 tokens)" in result.output


def test_set_applies_to_the_validated_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """softcot's dry run sizes the config it was given: --set and shortcuts both reach it."""
    monkeypatch.chdir(tmp_path)  # a default run directory would land here
    args = ["train", "--dry-run", "--model", "tiny-llama", "--set", "train.prompts_per_step=2"]
    result = runner.invoke(_app("softcot"), [*args, "--set", "train.steps=5"])
    assert result.exit_code == 0, result.output
    assert "batch: 2 prompts" in result.output
    assert "steps: 5 " in result.output
    # codeit: the set model spec is the one checked (nothing is loaded before it)
    result = runner.invoke(_app("codeit"), ["run", "--set", "model.spec=no-such-model"])
    assert result.exit_code == 2
    assert "unknown model 'no-such-model'" in _one_error(result.output)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("cli", "args", "message"),
    [
        ("softcot", ["train", "--set", "train.nope=1"], "--set train.nope: unknown key (train"),
        ("softcot", ["train", "--set", "nope.steps=1"], "--set nope.steps: unknown key (the"),
        ("softcot", ["train", "--set", "train.steps=many"], "train.steps: Input should be a"),
        ("softcot", ["train", "--set", "train.steps.x=1"], "train.steps is a value"),
        ("softcot", ["train", "--set", "eval.ks=1,8"], "eval.ks: Input should be a valid list"),
        ("softcot", ["train", "--set", "train.learning_rate=inf"], "train.learning_rate:"),
        ("softcot", ["train", "--set", "train.steps"], "write SECTION.KEY=VALUE"),
        ("softcot", ["eval", "runs/x", "--set", "eval.samples=0"], "eval.samples: Input"),
        ("softcot", ["demo", "--set", "thinking.mode=liquid"], "thinking.mode: Input should"),
        ("codeit", ["run", "--set", "train.meta_iterations=0"], "train.meta_iterations:"),
        ("benchagents", ["create", "calendar", "--set", "nope=1"], "--set nope: unknown key"),
        (  # a RecursionError in the TOML reader before
            "softcot",
            ["train", "--set", "train.steps=" + "[" * 3000 + "]" * 3000],
            "--set train.steps: the value is nested too deep",
        ),
        ("benchagents", ["create", "calendar", "--set", "count=0"], "count: Input should be"),
        ("benchagents", ["create", "text", "--set", "llm_checks=maybe"], "llm_checks: Input"),
    ],
)
def test_set_refuses_an_unknown_key_or_a_bad_value(
    cli: str, args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # default run directories would land here
    result = runner.invoke(_app(cli), args)
    assert result.exit_code == 2, result.output
    assert message in _one_error(result.output)
    assert not any(tmp_path.iterdir())


def test_an_old_spelling_warns_and_still_works(tmp_path: Path) -> None:
    result = runner.invoke(_app("softcot"), ["train", "--steps", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "warning: --steps is deprecated; use --iterations" in result.output
    assert "warning: --out is deprecated; use --run-dir" in result.output
    assert "train.steps: Input should be greater than or equal to 1" in _one_error(result.output)
    both = runner.invoke(_app("softcot"), ["train", "--out", "a", "--run-dir", "b"])
    assert _one_error(both.output) == (
        "error: --out is the old spelling of --run-dir: give --run-dir only"
    )
    old = runner.invoke(_app("benchagents"), ["resume", str(tmp_path / "none")])
    assert "`benchagents resume RUN` is deprecated" in old.output
    assert "holds no run" in _one_error(old.output)


def test_benchagents_shown_defaults_are_the_config_defaults() -> None:
    """create's shortcuts default to None (so a --config file's value stays); the defaults
    they show must be RunConfig's."""
    from benchagents.config import RunConfig

    defaults = RunConfig.for_domain("calendar").model_dump()
    fields = {"backend": "backend.spec", "count": "generation.count"}
    fields |= {"samples": "evaluation.samples", "max_new_tokens": "evaluation.max_new_tokens"}
    fields |= {"llm_checks": "verification.llm_checks"}
    fields |= {"llm_check_limit": "verification.llm_check_limit"}
    flags = {
        "review": ("auto", "run.review", False),
        "rewrite": ("rewrite", "generation.rewrite", True),
    }
    params = {p.name: p for p in _commands("benchagents")["create"].params}
    for name, field in fields.items():
        section, key = field.split(".")
        assert params[name].default is None
        assert params[name].show_default == str(defaults[section][key]), name
    for name, (shown, field, value) in flags.items():
        section, key = field.split(".")
        assert params[name].show_default == shown
        assert defaults[section][key] is value
