"""`reasonloop eval` over several models and benchmarks: one table, one JSON report, a PNG."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reasonloop.benchmarks import ReferenceBenchmark
from reasonloop.cli import app
from reasonloop.eval_matrix import unique_labels
from reasonloop.rpc import RunningServer, ServerOptions, serve_benchmark
from reasonloop.rpc.engine import InferenceEngine
from reasonloop.sampling import SamplingParams

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PROMPTS = [f"question {i}:" for i in range(6)]
RIGHT = 3  # the first RIGHT tasks' references are the tiny model's own greedy answers


@pytest.fixture
def greedy_benchmark_server(tiny, tmp_path: Path) -> Iterator[RunningServer]:
    """A JSONL benchmark served over gRPC, which the tiny model passes on RIGHT of 6 tasks
    when decoding greedily."""
    engine = InferenceEngine(tiny)
    params = SamplingParams(max_new_tokens=6, temperature=0)
    answers = [c.text for c in engine.submit(PROMPTS, params).completions()]
    engine.close()
    lines = [
        json.dumps({"id": f"g{i}", "prompt": p, "answer": a if i < RIGHT else a + " (not it)"})
        for i, (p, a) in enumerate(zip(PROMPTS, answers, strict=True))
    ]
    path = tmp_path / "greedy.jsonl"
    path.write_text("\n".join(lines) + "\n")
    benchmark = ReferenceBenchmark.from_jsonl(path, grader="exact")
    with serve_benchmark(benchmark, options=ServerOptions(port=0)) as server:
        yield server


def test_matrix_of_in_process_and_served_models_on_local_and_served_benchmarks(
    greedy_benchmark_server: RunningServer, inference_server: RunningServer, tmp_path: Path
) -> None:
    served_model = f"grpc://127.0.0.1:{inference_server.port}"
    served_benchmark = f"grpc://127.0.0.1:{greedy_benchmark_server.port}"
    result = CliRunner().invoke(
        app,
        ["eval", "--model", "tiny-llama", "--model", served_model,
         "--benchmark", "arithmetic", "--benchmark", served_benchmark, "--limit", "4",
         "--samples", "2", "--k", "1,2", "--temperature", "0", "--max-new-tokens", "6",
         "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    models = ["tiny-llama", f"tiny-llama ({served_model})"]
    for text in ("tiny-llama", "arithmetic (4 tasks)", "greedy (4 tasks)", "pass@1", "pass@2"):
        assert text in result.output

    report = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert report["models"] == models
    assert report["benchmarks"] == ["arithmetic", "greedy"]
    assert len(report["reports"]) == 4
    for k in ("pass@1", "pass@2"):
        grid = report["matrix"][k]
        assert len(grid) == 2 and all(len(row) == 2 for row in grid)
        # greedy decoding: both models (the same weights) pass 3 of the first 4 greedy tasks,
        # and score alike on arithmetic, served or in process
        assert [row[1] for row in grid] == [pytest.approx(0.75)] * 2
        assert grid[0][0] == grid[1][0]
    cells = {(r["model"], r["benchmark"]) for r in report["reports"]}
    assert cells == {(m, b) for m in models for b in ("arithmetic", "greedy")}
    assert all(len(r["tasks"]) == 4 for r in report["reports"])
    assert (tmp_path / "out" / "matrix.png").read_bytes().startswith(PNG_SIGNATURE)


def test_matrix_flag_with_one_pair_writes_the_matrix_report_beside_a_json_path(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        app,
        ["eval", "--matrix", "--model", "tiny-llama", "--benchmark", "arithmetic",
         "--limit", "2", "--samples", "1", "--k", "1", "--max-new-tokens", "4",
         "--out", str(tmp_path / "report.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["models"] == ["tiny-llama"] and list(report["matrix"]) == ["pass@1"]
    assert (tmp_path / "report.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "arithmetic", "--benchmark", "arithmetic"], "arithmetic is given twice"),
        (["--benchmark", "arithmetic", "--benchmark", "grpc://127.0.0.1:1"], "UNAVAILABLE"),
        (["--benchmark", "arithmetic", "--benchmark", "missing.jsonl"], "task file not found"),
    ],
)
def test_matrix_errors_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", "--model", "tiny-llama", *args])
    assert result.exit_code == 2
    assert result.output.startswith("error:") and message in result.output
    assert "Traceback" not in result.output


def test_unique_labels_keep_a_model_served_and_in_process_apart() -> None:
    assert unique_labels(["a", "b"], ["a", "grpc://h:1"]) == ["a", "b"]
    assert unique_labels(["a", "a"], ["a", "grpc://h:1"]) == ["a", "a (grpc://h:1)"]
    with pytest.raises(ValueError, match="given twice"):
        unique_labels(["a", "a"], ["a", "a"])
