"""The files under examples/ are what the READMEs' commands use: each is read by the loader its
command uses and does what the README says; every examples/ path a README names exists."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
READMES = [ROOT / "README.md", *sorted(ROOT.glob("packages/*/README.md"))]
CHECKED = {"README.md", "servers.toml", "softcot-soft.toml", "answer.schema.json", "007bbfb7.txt"}


def test_every_example_is_checked_and_every_named_one_exists() -> None:
    assert {p.name for p in EXAMPLES.iterdir()} == CHECKED
    named = {m for r in READMES for m in re.findall(r"examples/([\w.-]*\w)", r.read_text())}
    assert named == CHECKED - {"README.md"}  # the READMEs use every example, and no other


def test_servers_toml_is_a_launch_config_of_our_commands() -> None:
    from reasonloop.launcher import load_launch_config

    config = load_launch_config(EXAMPLES / "servers.toml")
    assert [(s.name, s.port) for s in config.server] == [("smollm2", 50051), ("arithmetic", 50052)]
    scripts = Path(sys.executable).parent
    for server in config.server:  # each command exists, and takes the options it is given
        help_text = subprocess.run(
            [scripts / server.command[0], server.command[1], "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for option in (a for a in server.command[2:] if a.startswith("--")):
            assert option in help_text, (server.name, option)


def test_softcot_example_config_loads() -> None:
    from softcot.config import load_config

    config = load_config(EXAMPLES / "softcot-soft.toml")
    assert (config.thinking.mode, config.thinking.temperature) == ("soft", 0.5)
    assert config.train.steps == 16
    assert config.model.spec == "smollm2-135m"  # the rest is the embedded default


def test_the_json_schema_constrains_an_answer(tiny) -> None:
    from reasonloop.sampling import Grammar, SamplingParams
    from reasonloop.sampling.decoder import Sampler

    text = (EXAMPLES / "answer.schema.json").read_text()
    params = SamplingParams(max_new_tokens=48, temperature=0, grammar=Grammar("json_schema", text))
    [[completion]] = Sampler(tiny.model, tiny.tokenizer).generate(["x"], params)
    assert completion.finish_reason == "stop", completion.text  # ended within 48 tokens
    answer = json.loads(completion.text)
    assert isinstance(answer["answer"], int)
    assert set(answer) <= {"answer", "unit"}


def test_the_dsl_program_parses_and_solves_its_task() -> None:
    from codeit.data import load_tasks
    from codeit.execution import ProgramRunner
    from codeit.program import check_types, parse

    source = (EXAMPLES / "007bbfb7.txt").read_text()
    check_types(parse(source))
    task = next(t for t in load_tasks("arc1-train") if t.id == "007bbfb7")
    examples = [*task.train, *task.test]
    with ProgramRunner(1) as runner:
        [result] = runner.run([source], [[e.input for e in examples]])
    assert list(result.outputs) == [e.output for e in examples]
