"""The `benchagents` CLI: one-line errors, show, evaluate with remote targets (a real
OpenAI-compatible server and a real gRPC server), BA-Calendar import, a described domain from a
hand-written draft, and serve-benchmark graded over gRPC."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchagents.cli import app

runner = CliRunner()
FAST = [
    "--backend", "tiny-llama", "--count", "4", "--samples", "1", "--limit", "2",
    "--max-new-tokens", "4", "--no-rewrite", "--llm-checks", "off",
]  # fmt: skip
DRAFT = Path(__file__).with_name("drafts") / "addition"  # hand-written, as if by an LLM


def invoke(*args: str):
    return runner.invoke(app, list(args))


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("create", "calendar", "--auto", "--run-dir", str(run), *FAST)
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "nosuch"], "unknown domain 'nosuch'; known: calendar, text"),
        (["create", "described"], "needs --description"),
        (["create", "calendar", "--backend", "nonsense:x"], "unknown model 'nonsense:x'"),
        (["create", "calendar", "--target", "grpc://nohost"], "'nohost' is not HOST:PORT"),
        (["create", "calendar", "--stop-after", "lunch"], "--stop-after must be one of"),
        (["create", "calendar", "--llm-checks", "maybe"], "llm_checks: Input should be"),
        (["create", "calendar", "--count", "0"], "count: Input should be greater than"),
        (["create", "--resume", "--run-dir", "/nonexistent/run"], "holds no run"),
        (["show", "--run-dir", "/nonexistent/run"], "holds no run"),
        (["import-ba-calendar", "/nonexistent.jsonl", "--run-dir", "x"], "no BA-Calendar file"),
    ],
)
def test_bad_input_is_one_error_line(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # default run directories would land here
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result.output)
    assert message in line
    assert not (tmp_path / "runs").exists()  # nothing was created


def test_show_and_errors_on_an_existing_run(finished_run: Path) -> None:
    result = invoke("show", "--run-dir", str(finished_run))
    assert result.exit_code == 0, result.output
    assert "stage: done" in result.output and "instances generated" in result.output
    for stage in ("planning", "generation", "verification", "evaluation"):
        assert f"{stage} finished" in result.output
    again = invoke("create", "calendar", "--run-dir", str(finished_run), *FAST)
    assert again.exit_code == 2 and "already holds a run" in error_lines(again.output)[0]
    done = invoke("create", "--resume", "--run-dir", str(finished_run))
    assert done.exit_code == 0 and "is done already" in done.output


def test_evaluate_targets_behind_real_servers(finished_run: Path, tiny) -> None:
    from reasonloop.rpc import ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference
    from reasonloop.rpc.openai_http import start_openai_server

    engine = InferenceEngine(tiny)
    grpc_server = serve_inference(engine, ServerOptions(port=0))
    try:
        with start_openai_server(engine, port=0) as http:
            result = invoke(
                "evaluate", "--run-dir", str(finished_run),
                "--target", f"openai:{engine.name}", "--base-url", http.url, "--api-key", "k",
                "--target", f"grpc://127.0.0.1:{grpc_server.port}", "--samples", "2",
            )  # fmt: skip
    finally:
        grpc_server.stop(grace_s=0)
        engine.close()
    assert result.exit_code == 0, result.output
    reports = {
        p.parent.name: json.loads(p.read_text())
        for p in (finished_run / "evaluation").glob("*/report.json")
    }
    assert {"tiny-llama", "openai-tiny-llama", f"grpc-127.0.0.1-{grpc_server.port}"} <= set(reports)
    openai_answers = finished_run / "evaluation" / "openai-tiny-llama" / "answers.jsonl"
    grpc_answers = (
        finished_run / "evaluation" / f"grpc-127.0.0.1-{grpc_server.port}" / "answers.jsonl"
    )
    assert openai_answers.read_text() == grpc_answers.read_text()  # same model, seed, settings
    assert all(r["samples"] == 2 for name, r in reports.items() if name != "tiny-llama")
    unreachable = invoke(
        "evaluate", "--run-dir", str(finished_run), "--target", "grpc://127.0.0.1:1"
    )
    assert unreachable.exit_code == 2
    assert "UNAVAILABLE" in error_lines(unreachable.output)[0]


def test_import_ba_calendar_then_evaluate(tmp_path: Path) -> None:
    from benchagents.agents import Generator
    from benchagents.domains import get_domain
    from benchagents.domains.calendar.ba_calendar import export_ba_calendar

    calendar = get_domain("calendar")
    instances = Generator(calendar, None).generate(calendar.default_plan(), 3, seed=1).instances
    rows = tmp_path / "ba.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in export_ba_calendar(instances)))
    run = tmp_path / "imported"
    result = invoke("import-ba-calendar", str(rows), "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    state = json.loads((run / "state.json").read_text())
    assert state["stage"] == "evaluation" and state["dataset"] == "dataset/v1"
    assert len((run / "dataset" / "v1" / "instances.jsonl").read_text().splitlines()) == 3
    result = invoke("evaluate", "--run-dir", str(run), "--target", "tiny-llama", "--samples", "1")
    assert result.exit_code == 0, result.output
    assert (run / "evaluation" / "tiny-llama" / "report.json").is_file()
    rows.write_text('{"task_prompt": "x"}\n')
    bad = invoke("import-ba-calendar", str(rows), "--run-dir", str(tmp_path / "bad"))
    assert bad.exit_code == 2 and "ba.jsonl:1: missing field" in error_lines(bad.output)[0]


def test_described_domain_end_to_end_and_served(tmp_path: Path) -> None:
    from reasonloop.rpc import BenchmarkClient

    run = tmp_path / "run"
    result = invoke(
        "create", "described", "--draft", str(DRAFT), "--auto", "--run-dir", str(run), *FAST
    )
    assert result.exit_code == 0, result.output
    checkers = (run / "dataset" / "v1" / "checkers.py").read_text()
    assert "def check(instance, answer)" in checkers
    assert (run / "domain" / "generator.py").read_text() == (DRAFT / "generator.py").read_text()
    instances = [
        json.loads(line)
        for line in (run / "dataset" / "v1" / "instances.jsonl").read_text().splitlines()
    ]
    assert len(instances) == 4 and all(i["prompt"].startswith("What is") for i in instances)

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchagents.cli",
            "serve-benchmark",
            "--run-dir",
            str(run),
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # the test machine runs several at once
    )
    try:
        port = None
        for line in proc.stderr:  # the first lines may be library warnings
            if found := re.search(r":(\d+) \(gRPC Benchmark", line):
                port = int(found.group(1))
                break
        assert port is not None, "serve-benchmark did not report its port"
        with BenchmarkClient(f"127.0.0.1:{port}") as client:
            tasks = client.tasks()
            assert [t.id for t in tasks] == [i["id"] for i in instances]
            grades = client.grade(
                [(i["id"], f"The sum is {i['reference']}.") for i in instances]
                + [(instances[0]["id"], "no idea")]
            )
        assert all(g.passed for g in grades[:-1]) and not grades[-1].passed
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
