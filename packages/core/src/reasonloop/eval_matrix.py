"""Several models on several benchmarks: every pair evaluated into one report, a table and a
pass@1 heatmap.

The caller sets each model and each benchmark up once (a model loaded or connected, a remote
benchmark's tasks listed) and every pair reuses them, so an N x M matrix costs N model loads,
not N x M.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.table import Table

from reasonloop.benchmarks import BenchmarkTask
from reasonloop.evaluate import EvalReport, GenerateTexts, TaskSource, evaluate, write_json
from reasonloop.metrics import MeanCI, plot_heatmap
from reasonloop.sampling import SamplingParams


@dataclass(frozen=True)
class MatrixModel:
    """A row: a model ready to answer, under the label the report uses."""

    label: str
    generate: GenerateTexts


@dataclass(frozen=True)
class MatrixBenchmark:
    """A column: a benchmark with its tasks already listed."""

    label: str
    source: TaskSource
    tasks: Sequence[BenchmarkTask]


def unique_labels(names: Sequence[str], specs: Sequence[str]) -> list[str]:
    """`names`, except that a name shared by several entries gets its spec appended where the
    two differ (a model served at an address and the same model in-process must stay two
    rows). The same spec twice is an error."""
    repeated = [spec for spec, count in Counter(specs).items() if count > 1]
    if repeated:
        raise ValueError(f"{repeated[0]} is given twice")
    counts = Counter(names)
    return [
        name if counts[name] == 1 or name == spec else f"{name} ({spec})"
        for name, spec in zip(names, specs, strict=True)
    ]


@dataclass
class MatrixReport:
    """One `EvalReport` per (model, benchmark) pair, models by rows."""

    models: list[str]
    benchmarks: list[str]
    reports: list[EvalReport]  # row-major: model by model, each over the benchmarks in order

    def cell(self, model: str, benchmark: str) -> EvalReport:
        i, j = self.models.index(model), self.benchmarks.index(benchmark)
        return self.reports[i * len(self.benchmarks) + j]

    @property
    def ks(self) -> list[int]:
        return list(self.reports[0].pass_at_k)

    def grid(self, k: int = 1) -> list[list[float]]:
        """pass@k means, one row per model."""
        return [[self.cell(m, b).pass_at_k[k].mean for b in self.benchmarks] for m in self.models]

    def to_json(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "benchmarks": self.benchmarks,
            "matrix": {f"pass@{k}": self.grid(k) for k in self.ks},
            "reports": [r.to_json() for r in self.reports],
        }

    def write(self, path: str | Path) -> Path:
        """The JSON report at `path` and the pass@1 heatmap next to it; returns the PNG's path."""
        path = Path(path)
        write_json(path, self.to_json())
        return plot_heatmap(
            self.grid(1),
            path.with_suffix(".png"),
            rows=self.models,
            columns=self.benchmarks,
            title="pass@1",
            xlabel="benchmark",
            ylabel="model",
        )

    def table(self) -> Table:
        """Rows are models, columns benchmarks; a cell lists pass@k mean [95% CI] per k."""
        table = Table(title="pass@k, mean [95% CI]", show_lines=True)
        table.add_column("model", style="bold")
        for benchmark in self.benchmarks:
            tasks = len(self.cell(self.models[0], benchmark).tasks)
            table.add_column(f"{benchmark} ({tasks} tasks)")
        for model in self.models:
            cells = [
                "\n".join(f"pass@{k} {_ci(ci)}" for k, ci in self.cell(model, b).pass_at_k.items())
                for b in self.benchmarks
            ]
            table.add_row(model, *cells)
        return table


def _ci(value: MeanCI) -> str:
    return f"{value.mean:.3f} [{value.low:.3f}, {value.high:.3f}]"


def evaluate_matrix(
    models: Sequence[MatrixModel],
    benchmarks: Sequence[MatrixBenchmark],
    *,
    samples: int = 8,
    ks: Sequence[int] = (1, 8),
    params: SamplingParams | None = None,
    limit: int | None = None,
    on_progress: Callable[[str, str, int], None] | None = None,
) -> MatrixReport:
    """Evaluate every model on every benchmark. `on_progress(model, benchmark, done)` is
    called as tasks of a pair finish."""
    if not models or not benchmarks:
        raise ValueError("the matrix needs at least one model and one benchmark")
    reports = []
    for model in models:
        for benchmark in benchmarks:
            progress = on_progress and partial(on_progress, model.label, benchmark.label)
            reports.append(
                evaluate(
                    model.generate,
                    benchmark.source,
                    model_name=model.label,
                    benchmark_name=benchmark.label,
                    samples=samples,
                    ks=ks,
                    params=params,
                    limit=limit,
                    on_progress=progress,
                    tasks=benchmark.tasks,
                )
            )
    return MatrixReport(
        models=[m.label for m in models],
        benchmarks=[b.label for b in benchmarks],
        reports=reports,
    )
