"""Every loader of the four CLIs, fed broken files: exit 2 and exactly one stderr line.

Each case writes a real broken file (truncated, nested 3,000 deep, wrong types, duplicate ids,
huge lines, bad encodings, YAML tags, infinite floats), runs the real command in-process and
asserts `error: FILE[:LINE]: what` as the only line on stderr, never a traceback. A command
that wrongly accepted its file would go on to serve or train: the timeout fails it then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

DEEP = 3000  # levels of nesting: past Python's recursion limit
DEEP_JSON = "[" * DEEP + "]" * DEEP
HUGE_PROMPT = "x" * 5_000_000  # over reasonloop.limits.MAX_PROMPT_CHARS
TASK = {"id": "a", "prompt": "What is 1 + 1?", "answer": "2"}
PROBLEM = {"question": "What is 1 + 1?", "answer": "#### 2"}
ARC = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]], "output": [[2]]}]}


def lines(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@dataclass(frozen=True)
class Case:
    """One loader fed one broken file: `where` is the FILE[:LINE] the error must name."""

    cli: str  # reasonloop, softcot, codeit or benchagents
    args: Callable[[Path], list[str]]  # the command line, given the broken file
    name: str  # the broken file's name
    content: str | bytes  # for a dataset: appended to its valid instances.jsonl
    where: str  # FILE or FILE:LINE (FILE is replaced by the path)
    what: str  # a regex the rest of the line matches


def config_cases(cli: str, args: Callable[[Path], list[str]]) -> list[Case]:
    return [
        Case(cli, args, "deep.toml", f"[train]\nx = {DEEP_JSON}\n", "FILE", "nested too deep"),
        Case(cli, args, "deep.yaml", f"train: {DEEP_JSON}\n", "FILE", "nested too deep"),
        Case(cli, args, "deep.json", f'{{"train": {DEEP_JSON}}}', "FILE", "nested too deep"),
        Case(cli, args, "cut.toml", "[train]\nseed = ", "FILE:2", "not valid TOML"),
        Case(cli, args, "cut.json", '{"train": {"seed": 3', "FILE:1", "not valid JSON"),
        Case(
            cli,
            args,
            "tag.yaml",
            "train:\n  seed: !!python/object/apply:os.system ['true']\n",
            "FILE:2",
            "not valid YAML: could not determine a constructor",
        ),
        Case(
            cli,
            args,
            "alias.yaml",
            "a: &x [1]\nb: *x\n",
            "FILE:2",
            "not valid YAML: aliases are not allowed",
        ),
        Case(
            cli,
            args,
            "types.toml",
            "[train]\nseed = 'x'\nlearning_rate = []\nbatch = 1\n[model]\nlora = 'maybe'\n",
            "FILE",
            r"model\.lora: .*; train\.\w+: .*; train\.\w+: .*; and \d+ more",
        ),
        Case(
            cli,
            args,
            "inf.toml",
            "[train]\nlearning_rate = inf\n",
            "FILE",
            "train.learning_rate: Input should be a finite number",
        ),
        Case(
            cli,
            args,
            "nan.yaml",
            "train:\n  learning_rate: .nan\n",
            "FILE",
            "train.learning_rate: Input should be a finite number",
        ),
        Case(cli, args, "latin1.toml", b"[train]\n# caf\xe9\n", "FILE:2", "not UTF-8"),
        Case(cli, args, "huge.toml", "#" * 2_000_000, "FILE", "larger than"),
        Case(cli, args, "list.json", "[1, 2]", "FILE", "value: Input should be a valid dict"),
    ]


def task_file_cases(cli: str, args: Callable[[Path], list[str]], record: dict) -> list[Case]:
    """The breakages every JSONL of records shares (task files, problem files)."""
    good = json.dumps(record)
    return [
        Case(cli, args, "cut.jsonl", f"{good}\n{good[:-5]}", "FILE:2", "invalid JSON"),
        Case(cli, args, "deep.jsonl", f"{good}\n{DEEP_JSON}\n", "FILE:2", "nested too deep"),
        Case(cli, args, "list.jsonl", lines([1, 2]), "FILE:1", "expected a(n| JSON) object"),
        Case(cli, args, "latin1.jsonl", b'{"a": "caf\xe9"}\n', "FILE:1", "not UTF-8"),
        Case(
            cli,
            args,
            "longline.jsonl",
            f"{good}\n" + "1" * (17 * 1024 * 1024) + "\n",
            "FILE:2",
            "line longer than",
        ),
    ]


def reasonloop_tasks(path: Path) -> list[str]:
    return ["serve-benchmark", "--tasks", str(path), "--port", "0"]


def softcot_problems(path: Path) -> list[str]:
    return ["serve-benchmark", "--dataset", str(path), "--port", "0"]


def codeit_tasks(path: Path) -> list[str]:
    """A directory of task files, the broken one among them."""
    return ["serve-benchmark", "--source", str(path.parent), "--port", "0", "--workers", "1"]


def benchagents_run(path: Path) -> list[str]:
    """`resume` of a run whose state.json, log.jsonl or dataset is the broken file."""
    return ["create", "--resume", "--run-dir", str(path.parent), "--auto"]


def benchagents_dataset(path: Path) -> list[str]:
    """`serve-benchmark` of a run whose dataset's instances.jsonl is the broken file."""
    return ["serve-benchmark", "--run-dir", str(path.parents[2]), "--port", "0"]


def benchagents_rows(path: Path) -> list[str]:
    return ["import-ba-calendar", str(path), "--run-dir", str(path.parent / "imported")]


CASES = [
    *config_cases("softcot", lambda p: ["train", "--config", str(p), "--run-dir", str(p.parent)]),
    *config_cases("codeit", lambda p: ["run", "--config", str(p), "--run-dir", str(p.parent)]),
    Case(
        "reasonloop",
        lambda p: ["up", str(p)],
        "deep.yaml",
        f"a: {DEEP_JSON}\n",
        "FILE",
        "nested too",
    ),
    # options: `FIELD: what is wrong`
    Case(
        "softcot", lambda p: ["train", "--iterations", "0"], "-", "", "train.steps", "Input should"
    ),
    Case(
        "codeit",
        lambda p: ["run", "--iterations", "0", "--run-dir", str(p.parent)],
        "-",
        "",
        "train.meta_iterations",
        "Input should be greater than",
    ),
    # task files of `reasonloop serve-benchmark` / `eval`
    *task_file_cases("reasonloop", reasonloop_tasks, TASK),
    Case(
        "reasonloop",
        reasonloop_tasks,
        "meta.jsonl",
        lines(TASK | {"id": "b"}, TASK | {"metadata": ["not", "an", "object"]}),
        "FILE:2",
        "metadata must be a JSON object",
    ),
    Case(
        "reasonloop",
        reasonloop_tasks,
        "twice.jsonl",
        lines(TASK, TASK | {"id": "b"}, TASK),
        "FILE:3",
        "task id 'a' is also on line 1",
    ),
    Case(
        "reasonloop",
        reasonloop_tasks,
        "types.jsonl",
        lines(TASK | {"prompt": 5}),
        "FILE:1",
        "no prompt",
    ),
    Case(
        "reasonloop",
        reasonloop_tasks,
        "answer.jsonl",
        lines(TASK | {"answer": {"x": 1}}),
        "FILE:1",
        "answer must be text or a number",
    ),
    Case(
        "reasonloop",
        reasonloop_tasks,
        "big.jsonl",
        lines(TASK | {"prompt": HUGE_PROMPT}),
        "FILE:1",
        "prompt has 5000000 characters",
    ),
    # problem files of softcot
    *task_file_cases("softcot", softcot_problems, PROBLEM),
    Case(
        "softcot",
        softcot_problems,
        "types.jsonl",
        lines(PROBLEM | {"question": ["a", "list"]}),
        "FILE:1",
        "'question' must be text, not list",
    ),
    Case(
        "softcot",
        softcot_problems,
        "big.jsonl",
        lines(PROBLEM | {"question": HUGE_PROMPT}),
        "FILE:1",
        "'question' is 5000000 characters",
    ),
    # ARC task files of codeit
    Case("codeit", codeit_tasks, "cut.json", json.dumps(ARC)[:-9], "FILE:1", "invalid JSON"),
    Case("codeit", codeit_tasks, "deep.json", DEEP_JSON, "FILE", "nested too deep"),
    Case("codeit", codeit_tasks, "types.json", '{"train": 5}', "FILE", "task types: 'train'"),
    Case("codeit", codeit_tasks, "latin1.json", b'{"train": "\xff"}', "FILE:1", "not UTF-8"),
    Case("codeit", codeit_tasks, "huge.json", " " * (5 * 1024 * 1024), "FILE", "larger than"),
    # benchagents: BA-Calendar rows, a run's state, log and dataset
    *task_file_cases("benchagents", benchagents_rows, {"task_prompt": "x"})[:4],
    Case(
        "benchagents",
        benchagents_rows,
        "types.jsonl",
        lines({"task_prompt": "x", "params": [], "constraints": {}, "metadata": {}}),
        "FILE:1",
        "params must be an object",
    ),
    Case(
        "benchagents",
        benchagents_dataset,
        "instances.jsonl",
        "FIRST\n",  # the first instance again
        "FILE:4",
        "instance id 'cal-000' is also on line 1",
    ),
    Case("benchagents", benchagents_dataset, "instances.jsonl", DEEP_JSON, "FILE:4", "nested"),
    Case(
        "benchagents",
        benchagents_dataset,
        "instances.jsonl",
        '{"id": 5}\n',
        "FILE:4",
        "not an instance: id: Input should be a valid string",
    ),
    Case("benchagents", benchagents_run, "state.json", "{", "FILE:1", "invalid JSON"),
    Case("benchagents", benchagents_run, "state.json", DEEP_JSON, "FILE", "nested too deep"),
    Case("benchagents", benchagents_run, "state.json", '{"domain": 5}', "FILE", "domain: "),
    Case("benchagents", benchagents_run, "state.json", b'{"domain": "\xff"', "FILE:1", "not UTF-8"),
    Case(
        "benchagents",
        benchagents_run,
        "log.jsonl",
        '{"event": "created"}\n{"event": "cre\n{"event": "stage_started"}\n',
        "FILE:2",
        "invalid JSON",
    ),
]


def app(cli: str):
    if cli == "reasonloop":
        from reasonloop.cli import app
    elif cli == "softcot":
        from softcot.cli import app
    elif cli == "codeit":
        from codeit.cli import app
    else:
        from benchagents.cli import app
    return app


def place(case: Case, tmp_path: Path) -> Path:
    """Write the broken file where its loader looks (a run directory for benchagents)."""
    path = tmp_path / case.name
    if case.args is codeit_tasks:
        path = tmp_path / "tasks" / case.name
    if case.args is benchagents_run and case.name != "state.json":
        from benchagents.config import RunConfig
        from benchagents.run_files import RunState

        state = RunState(domain="calendar", config=RunConfig.for_domain("calendar"))
        (tmp_path / "state.json").write_text(state.model_dump_json())
    if case.args is benchagents_dataset:
        return broken_dataset(tmp_path, str(case.content))
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


def broken_dataset(run: Path, extra: str) -> Path:
    """A run with a real 3-instance calendar dataset, `extra` appended to its instances."""
    import random

    from benchagents.config import RunConfig
    from benchagents.dataset import INSTANCES, write_dataset
    from benchagents.domains import get_domain
    from benchagents.run_files import RunState

    domain = get_domain("calendar")
    plan, rng = domain.default_plan(), random.Random(0)
    instances = [
        domain.generate(domain.sample_params(plan, rng), rng, f"cal-{i:03d}") for i in range(3)
    ]
    version = write_dataset(run, plan, instances, "calendar", {"source": "test"})
    state = RunState(
        domain="calendar",
        stage="done",
        config=RunConfig.for_domain("calendar"),
        dataset=str(version.relative_to(run)),
    )
    (run / "state.json").write_text(state.model_dump_json())
    path = version / INSTANCES
    good = path.read_text()
    path.write_text(good + extra.replace("FIRST", good.splitlines()[0]))
    return path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[f"{c.cli}-{c.args.__name__}-{c.name}" for c in CASES])
def test_a_broken_file_is_one_line_and_exit_2(case: Case, tmp_path: Path) -> None:
    path = place(case, tmp_path)
    result = CliRunner().invoke(app(case.cli), case.args(path))
    stderr = result.stderr.splitlines()
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    assert len(stderr) == 1, stderr[:5]
    where = case.where.replace("FILE", str(path))
    assert re.match(rf"error: {re.escape(where)}: {case.what}", stderr[0]), stderr[0]
