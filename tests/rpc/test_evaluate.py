"""Cross-method evaluation: in-process and over gRPC, the function and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reasonloop.benchmarks import BenchmarkTask, ReferenceBenchmark
from reasonloop.evaluate import evaluate, grade_samples
from reasonloop.rewards import ExactMatchReward
from reasonloop.rpc import ServerOptions
from reasonloop.rpc.engine import InferenceEngine
from reasonloop.rpc.server import serve
from reasonloop.sampling import SamplingParams

GREEDY = SamplingParams(max_new_tokens=6, temperature=0)
PROMPTS = [f"task {i}:" for i in range(10)]


def engine_texts(engine: InferenceEngine):
    def generate(prompts, params) -> list[list[str]]:
        groups: list[list[str]] = [[] for _ in prompts]
        for c in engine.submit(prompts, params).completions():
            groups[c.prompt_index].append(c.text)
        return groups

    return generate


@pytest.fixture
def engine(tiny) -> Iterator[InferenceEngine]:
    engine = InferenceEngine(tiny)
    yield engine
    engine.close()


def greedy_benchmark(engine: InferenceEngine, wrong_from: int) -> ReferenceBenchmark:
    """References = the model's own greedy answers for tasks before `wrong_from`."""
    tasks = [BenchmarkTask(f"t{i}", p) for i, p in enumerate(PROMPTS)]
    answers = [engine.submit([p], GREEDY).completions()[0].text for p in PROMPTS]
    references = {
        t.id: a if i < wrong_from else a + " (not it)"
        for i, (t, a) in enumerate(zip(tasks, answers, strict=True))
    }
    return ReferenceBenchmark("greedy", tasks, references, ExactMatchReward(normalize=False))


def test_evaluate_counts_passes(engine: InferenceEngine) -> None:
    bench = greedy_benchmark(engine, wrong_from=7)
    progress: list[int] = []
    report = evaluate(
        engine_texts(engine),
        bench,
        model_name="tiny",
        benchmark_name="greedy",
        samples=2,
        ks=(1, 2),
        params=GREEDY,
        chunk_size=3,
        on_progress=progress.append,
    )
    assert [t.passed for t in report.tasks] == [2] * 7 + [0] * 3
    assert report.pass_at_k[1].mean == pytest.approx(0.7)
    assert report.pass_at_k[2].mean == pytest.approx(0.7)
    assert report.pass_at_k[1].low < 0.7 < report.pass_at_k[1].high
    assert sum(progress) == 10
    with pytest.raises(ValueError, match="k must be"):
        evaluate(engine_texts(engine), bench, model_name="", benchmark_name="", samples=2, ks=[4])


def test_eval_cli_over_grpc(engine: InferenceEngine, tmp_path: Path) -> None:
    from reasonloop.cli import app

    bench = greedy_benchmark(engine, wrong_from=5)
    with serve(ServerOptions(port=0), engine=engine, benchmark=bench) as server:
        address = f"grpc://127.0.0.1:{server.port}"
        report_path = tmp_path / "report.json"
        result = CliRunner().invoke(
            app,
            ["eval", "--model", address, "--benchmark", address, "--samples", "2", "--k", "1,2",
             "--temperature", "0", "--max-new-tokens", "6", "--out", str(report_path)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "pass@1" in result.output and "0.500" in result.output
        report = json.loads(report_path.read_text())
        assert report["model"] == "tiny-llama" and report["benchmark"] == "greedy"
        assert report["pass_at_k"]["pass@2"]["mean"] == pytest.approx(0.5)
        assert len(report["tasks"]) == 10

        bad = CliRunner().invoke(app, ["eval", "--model", address, "--benchmark", address,
                                       "--samples", "2", "--k", "1,8"])  # fmt: skip
        assert bad.exit_code == 2
        assert "error:" in bad.output and "k must be" in bad.output


def test_eval_cli_reports_an_unreachable_server_in_one_line() -> None:
    from reasonloop.cli import app

    result = CliRunner().invoke(
        app, ["eval", "--model", "tiny-llama", "--benchmark", "grpc://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "UNAVAILABLE" in result.output
    assert "Traceback" not in result.output


class DropsLastGrade(ReferenceBenchmark):
    """A benchmark that answers one grade short (as a faulty remote server might)."""

    def grade(self, submissions):
        return super().grade(submissions)[:-1]


class GradesInReverse(ReferenceBenchmark):
    """A benchmark that answers its grades in the wrong order."""

    def grade(self, submissions):
        return super().grade(submissions)[::-1]


def test_grades_are_split_per_task_and_a_short_answer_is_refused() -> None:
    tasks = [BenchmarkTask("a", "say a"), BenchmarkTask("b", "say b")]
    references = {"a": "a", "b": "b"}
    answers = [["a", "x"], ["b"]]  # per task its samples, in order
    exact = ReferenceBenchmark("ab", tasks, references, ExactMatchReward())
    grades = grade_samples(exact, ["a", "b"], answers)
    assert [[(g.task_id, g.passed) for g in mine] for mine in grades] == [
        [("a", True), ("a", False)],
        [("b", True)],
    ]
    short = DropsLastGrade("ab", tasks, references, ExactMatchReward())
    with pytest.raises(ValueError, match="2 grades for 3 answers"):
        grade_samples(short, ["a", "b"], answers)
    reversed_ = GradesInReverse("ab", tasks, references, ExactMatchReward())
    with pytest.raises(ValueError, match="grade 0 is for task 'b', not 'a'"):
        grade_samples(reversed_, ["a", "b"], answers)
