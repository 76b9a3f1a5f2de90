"""`--llm-generator`: a built-in domain's generator written as code (here by hand, as the
backend would write it), run in the sandbox, its instances verified and repaired by the
domain's own code; hostile generator code; a weak real model that cannot write one; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchagents.agents import Generator, Verifier
from benchagents.agents.generator_writer import (
    GENERATOR_FILE,
    WrittenGeneratorDomain,
    write_generator,
)
from benchagents.cli import app
from benchagents.domains import get_domain
from benchagents.domains.calendar.solver import CalendarProblem
from benchagents.domains.described import DescribedDomainError, GeneratedCodeError, trial
from benchagents.llm.local import LocalBackend

SOURCE = (Path(__file__).with_name("drafts") / "calendar_generator" / GENERATOR_FILE).read_text()
CALENDAR = get_domain("calendar")
FAST = [
    "--backend", "tiny-llama", "--count", "3", "--samples", "1", "--limit", "2",
    "--max-new-tokens", "4", "--no-rewrite", "--llm-checks", "off",
]  # fmt: skip
runner = CliRunner()


@pytest.fixture(scope="module")
def llm() -> LocalBackend:
    return LocalBackend("tiny-llama", device="cpu")


def test_written_generator_instances_are_verified_and_repaired_by_the_domain(llm) -> None:
    domain = WrittenGeneratorDomain(CALENDAR, SOURCE)
    plan = domain.default_plan()
    generated = Generator(domain, None).generate(plan, 6, seed=3)
    assert generated.counts["generated"] == 6 and not generated.errors
    first = generated.instances[0]
    assert first.prompt.startswith("Schedule a ")  # the written code's prompt, not ours
    assert first.params["days_of_week"] and first.params["num_participants"] >= 2  # both kinds
    again = Generator(domain, None).generate(plan, 6, seed=3).instances
    assert again == generated.instances  # seeded: the same code and seed give the same data
    result = Verifier(domain, llm, llm_checks="off").verify(generated.instances, plan)
    assert len(result.kept) == 6 and result.repaired >= 1  # naive references, short prompts
    for instance in result.kept:
        assert instance.reference == CalendarProblem.from_instance(instance).answer()
        assert all(v.passed for v in CALENDAR.verify(instance))
    trial(domain, plan)  # accepted as a draft: its trial instance verifies after repair


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def generate(params, seed):\n    while True:\n        pass\n", "timeout"),
        ("def generate(params, seed):\n    return [1, 2]\n", "not a dict"),
        ("def generate(params, seed):\n    return {'prompt': 'p'}\n", "constraints"),
        (
            "def generate(params, seed):\n    return {'prompt': 'p', 'constraints': {}, 'x': 1}\n",
            "unknown keys: x",
        ),
        (  # this very file: outside what the sandbox shows
            f"def generate(params, seed):\n    return open({__file__!r}).read()\n",
            r"generate\(\) failed .*No such file",
        ),
        (
            "def generate(params, seed):\n"
            "    return {'prompt': 'p', 'constraints': {}, 'params': 3}\n",
            "params of type int",
        ),
    ],
)
def test_hostile_or_broken_generator_code_fails_one_call(source: str, message: str) -> None:
    domain = WrittenGeneratorDomain(CALENDAR, source, time_limit_s=1.0)
    with pytest.raises(GeneratedCodeError, match=message):
        domain.generate({}, __import__("random").Random(0), "x")


def test_a_draft_whose_instances_cannot_be_repaired_is_refused() -> None:
    unsolvable_schema = SOURCE.replace('"meeting_duration": duration', '"meeting_duration": -5')
    with pytest.raises(DescribedDomainError, match="trial instance fails schema"):
        trial(WrittenGeneratorDomain(CALENDAR, unsolvable_schema))


@pytest.mark.parametrize(
    ("name", "why"),
    [("text", "did not fit GeneratorDraft"), ("calendar", "context length")],
)
def test_a_weak_model_cannot_write_a_generator(llm, name: str, why: str) -> None:
    domain = get_domain(name)
    with pytest.raises(DescribedDomainError, match=f"{why}.*drop --llm-generator"):
        write_generator(llm, domain, domain.default_plan(), max_retries=0, max_tokens=40)


def test_cli_llm_generator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = runner.invoke(app, ["create", "described", "--description", "x", "--llm-generator"])
    assert bad.exit_code == 2 and "--llm-generator is for the built-in domains" in bad.output
    weak = runner.invoke(
        app, ["create", "calendar", "--llm-generator", "--run-dir", "weak", "--auto", *FAST]
    )
    assert weak.exit_code == 2, weak.output
    (line,) = [line for line in weak.output.splitlines() if line.startswith("error:")]
    assert "drop --llm-generator" in line
    # A generator written into the run (as the backend would) is what generation runs.
    run = tmp_path / "run"
    args = ["--run-dir", str(run), "--auto", "--stop-after", "planning", *FAST]
    planned = runner.invoke(app, ["create", "calendar", "--llm-generator", *args])
    assert planned.exit_code == 0, planned.output
    (run / "domain").mkdir()
    (run / "domain" / GENERATOR_FILE).write_text(SOURCE)
    done = runner.invoke(app, ["create", "--resume", "--run-dir", str(run)])
    assert done.exit_code == 0, done.output
    raw = [json.loads(line) for line in (run / "instances" / "raw.jsonl").read_text().splitlines()]
    assert len(raw) == 3 and all(r["prompt"].startswith("Schedule a ") for r in raw)
    config = json.loads((run / "state.json").read_text())["config"]
    assert config["generation"]["llm_generator"] is True
