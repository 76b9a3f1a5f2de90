"""The staged pipeline through its CLI: auto runs, stops and resumes in every stage, review
driven through real stdin (edit files between prompts, feedback, quit), Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchagents.cli import app
from benchagents.plan import Plan

runner = CliRunner()
TINY = ["--backend", "tiny-llama", "--seed", "3"]
FAST = [*TINY, "--count", "5", "--samples", "1", "--limit", "3", "--max-new-tokens", "4"]
NO_LLM_WORK = ["--no-rewrite", "--llm-checks", "off"]
PROMPT = "[a]pprove"
# one torch thread per child process: the test machine runs several at once
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def invoke(*args: str, input: str | None = None):
    result = runner.invoke(app, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def state(run: Path) -> dict:
    return json.loads((run / "state.json").read_text())


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def final_outputs(run: Path) -> tuple[str, str]:
    """The dataset's instances and the target's answers: what a rerun must reproduce."""
    answers = run / "evaluation" / "tiny-llama" / "answers.jsonl"
    return (run / "dataset" / "v1" / "instances.jsonl").read_text(), answers.read_text()


def test_auto_run_end_to_end_with_the_llm_contributing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*TINY, "--count", "3", "--samples", "2", "--limit", "2", "--max-new-tokens", "4"]
    result = invoke("create", "calendar", "--auto", "--run-dir", str(run), *args)
    assert result.exit_code == 0, result.output
    assert state(run)["stage"] == "done"
    plan = Plan.load(run / "plan.yaml")
    assert plan.verification[0].name == "rewrite_facts" and plan.evaluation is not None
    raw = (run / "instances" / "raw.jsonl").read_text().splitlines()
    verdicts = [
        json.loads(v) for v in (run / "verification" / "verdicts.jsonl").read_text().splitlines()
    ]
    assert len(raw) == 3 and len(verdicts) == 3
    kept = [v for v in verdicts if v["kept"]]
    assert len(kept) == 3  # the generator's instances are valid; advisory checks drop none
    assert all(v["llm"][0]["name"] == "clarity" for v in kept)  # advisory: recorded, kept
    dataset = (run / "dataset" / "v1" / "instances.jsonl").read_text().splitlines()
    assert len(dataset) == len(kept)
    report = json.loads((run / "evaluation" / "tiny-llama" / "report.json").read_text())
    assert report["samples"] == 2 and len(report["instances"]) == min(2, len(kept))
    assert (run / "evaluation" / "tiny-llama" / "report.png").stat().st_size > 0
    names = [e["event"] for e in events(run)]
    for name in ("created", "generated", "verified", "dataset_written", "evaluated"):
        assert name in names
    assert names.count("stage_finished") == 4
    assert "instances generated" in result.output and "all correct" in result.output


def test_resume_after_a_stop_in_each_stage_gives_the_same_dataset(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    result = invoke(
        "create", "calendar", "--auto", "--run-dir", str(reference), *FAST, *NO_LLM_WORK
    )
    assert result.exit_code == 0, result.output
    expected = final_outputs(reference)

    for stage, then in [
        ("planning", "generation"),
        ("generation", "verification"),
        ("verification", "evaluation"),
    ]:
        run = tmp_path / f"stop-{stage}"
        result = invoke(
            "create", "calendar", "--run-dir", str(run), "--stop-after", stage, *FAST, *NO_LLM_WORK
        )
        assert result.exit_code == 0 and f"stopped at {then}" in result.output, result.output
        assert state(run)["stage"] == then and not (run / "dataset").exists()
        result = invoke("create", "--resume", "--run-dir", str(run))
        assert result.exit_code == 0, result.output
        assert state(run)["stage"] == "done"
        assert final_outputs(run) == expected, stage

    # a quit while evaluation awaits its review, then resume in auto mode
    run = tmp_path / "quit-evaluation"
    result = invoke(
        "create", "calendar", "--review", "--run-dir", str(run), *FAST, *NO_LLM_WORK,
        input="a\na\na\nq\n",
    )  # fmt: skip
    assert result.exit_code == 0 and "stopped at evaluation (quit)" in result.output
    assert state(run)["stage"] == "evaluation" and state(run)["awaiting_review"]
    assert invoke("create", "--resume", "--run-dir", str(run), "--auto").exit_code == 0
    assert state(run)["stage"] == "done" and final_outputs(run) == expected


class Session:
    """A CLI process whose stdin a test types into, reading what it prints."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchagents.cli", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=CHILD_ENV,
        )
        self.text = ""
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while chunk := os.read(self.proc.stdout.fileno(), 4096):
            with self._lock:
                self.text += chunk.decode(errors="replace")

    def wait_for(self, marker: str, occurrence: int, timeout_s: float = 240) -> str:
        """Everything printed so far, once `marker` has appeared `occurrence` times."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.text.count(marker) >= occurrence:
                    return self.text
            if self.proc.poll() is not None:
                time.sleep(0.2)
                with self._lock:
                    raise AssertionError(f"process ended ({self.proc.returncode}):\n{self.text}")
            time.sleep(0.05)
        raise AssertionError(f"no {marker!r} #{occurrence} within {timeout_s} s:\n{self.text}")

    def type(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()


def test_review_through_real_stdin_edit_feedback_quit(tmp_path: Path) -> None:
    run = tmp_path / "run"
    session = Session("create", "calendar", "--review", "--run-dir", str(run), *FAST, *NO_LLM_WORK)
    try:
        session.wait_for(PROMPT, 1)  # planning
        plan_file = run / "plan.yaml"
        good = Plan.load(plan_file)
        plan_file.write_text(plan_file.read_text().replace("low: 2.0", "low: two"))
        session.type("e")
        output = session.wait_for(PROMPT, 2)
        assert "error:" in output and "plan.yaml" in output
        participants = good.parameter("num_participants").model_copy(update={"low": 4, "high": 4})
        edited = good.model_copy(
            update={
                "parameters": [
                    participants if p.name == "num_participants" else p for p in good.parameters
                ]
            }
        )
        edited.save(plan_file)
        session.type("e")
        assert "valid" in session.wait_for(PROMPT, 3)
        session.type("a")

        session.wait_for(PROMPT, 4)  # generation, made with the edited plan
        raw_file = run / "instances" / "raw.jsonl"
        raw = raw_file.read_text()
        assert all(json.loads(line)["params"]["num_participants"] == 4 for line in raw.splitlines())
        raw_file.write_text(raw + "{not json\n")
        session.type("e")
        assert "raw.jsonl:6: invalid JSON" in session.wait_for(PROMPT, 5)
        raw_file.write_text(raw)
        session.type("f")
        session.wait_for("feedback: ", 1)
        session.type("Prefer meetings on weekdays.")
        session.wait_for(PROMPT, 6)  # the planner revised, the generator ran again
        session.type("a")
        session.wait_for(PROMPT, 7)  # verification
        session.type("a")
        session.wait_for(PROMPT, 8)  # evaluation
        session.type("q")
        assert session.proc.wait(timeout=60) == 0
        assert "stopped at evaluation (quit)" in session.text
    finally:
        if session.proc.poll() is None:
            session.proc.kill()
    assert Plan.load(run / "plan.yaml").feedback == ["Prefer meetings on weekdays."]
    names = [e["event"] for e in events(run)]
    assert names.count("edited") == 1 and names.count("feedback") == 1
    assert names.count("generated") == 2 and names.count("approved") == 3
    assert state(run)["stage"] == "evaluation" and state(run)["awaiting_review"]
    assert invoke("create", "--resume", "--run-dir", str(run), "--auto").exit_code == 0
    assert state(run)["stage"] == "done"


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT,), (signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)],
    ids=["ctrl-c", "sigterm", "two-sigints-50ms-apart"],
)
def test_ctrl_c_saves_the_state(tmp_path: Path, signals: tuple[signal.Signals, ...]) -> None:
    """Ctrl-C, a scheduler's SIGTERM, and a Ctrl-C arriving twice (`uv run` forwards it to the
    whole group) all save the state and exit 130."""
    run = tmp_path / "run"
    args = ["create", "calendar", "--auto", "--run-dir", str(run), *TINY, *NO_LLM_WORK]
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchagents.cli", *args, "--count", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=CHILD_ENV,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        log = run / "log.jsonl"
        if log.exists() and '"stage": "generation"' in log.read_text():
            break
        time.sleep(0.1)
    time.sleep(1.0)
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.05)
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 130, output
    assert "stopped at generation (interrupted)" in output
    saved = state(run)
    assert saved["stage"] == "generation" and not saved["awaiting_review"]
    assert events(run)[-1]["event"] == "interrupted"
    assert not (run / "instances" / "raw.jsonl").exists()  # the stage reruns from its inputs


@pytest.mark.slow
def test_smollm2_creates_a_calendar_benchmark(tmp_path: Path) -> None:
    """The main job's path with the real default model (a small count)."""
    run = tmp_path / "run"
    result = invoke(
        "create", "calendar", "--auto", "--run-dir", str(run), "--count", "4",
        "--llm-check-limit", "2", "--limit", "2", "--samples", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stats = json.loads((run / "verification" / "stats.json").read_text())
    assert stats["generated"] == 4 and stats["verified"] >= 1
    assert sum(stats["llm_checks"].values()) == 2
    report = json.loads((run / "evaluation" / "smollm2-135m" / "report.json").read_text())
    assert 0.0 <= report["fraction_passed"]["mean"] <= 1.0 and report["samples"] == 2
