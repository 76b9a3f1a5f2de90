"""Several models on several benchmarks: every pair evaluated into one report, a table and a
pass@1 heatmap; what `reasonloop eval` runs, one pair being a 1 x 1 matrix.

Each model and each benchmark is set up once (`open_matrix`: a model loaded or connected, a
remote benchmark's tasks listed) and every pair reuses them, so an N x M matrix costs N model
loads, not N x M.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from rich.table import Table

from reasonloop.addresses import is_remote, parse_grpc_address
from reasonloop.benchmarks import BenchmarkTask, TaskSource, local_benchmark
from reasonloop.evaluate import EvalReport, GenerateTexts, evaluate, write_json
from reasonloop.metrics import MeanCI, plot_heatmap
from reasonloop.sampling.params import Prompt, SamplingParams

Loading = Callable[[str], AbstractContextManager[object]]  # shown while a model loads


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

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """The JSON report at `path` (a .json file, or a directory: its matrix.json) and the
        pass@1 heatmap next to it; returns both paths."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / "matrix.json"
        write_json(path, self.to_json())
        return path, plot_heatmap(
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


def open_benchmark(
    spec: str, grader: str, auth_token: str | None, resources: ExitStack
) -> MatrixBenchmark:
    """A column from grpc://HOST:PORT, a tasks .jsonl file or `arithmetic`, with its tasks
    listed once (a remote one pages through all of them); a client is closed with `resources`."""
    from reasonloop.rpc import BenchmarkClient, Connection

    source: TaskSource
    if is_remote(spec):
        client = BenchmarkClient(Connection(parse_grpc_address(spec), auth_token=auth_token))
        resources.callback(client.close)
        source, name = client, client.name
    else:
        local = local_benchmark(spec, grader)
        source, name = local, local.name
    return MatrixBenchmark(name, source, source.tasks())


def open_model(
    spec: str,
    auth_token: str | None,
    device: str | None,
    resources: ExitStack,
    loading: Loading = lambda _: nullcontext(),
) -> MatrixModel:
    """A row from grpc://HOST:PORT[,HOST:PORT...] (an Inference endpoint, labelled with the
    model it serves) or a model spec (loaded into an in-process batching engine); closed when
    `resources` is."""
    if is_remote(spec):
        from reasonloop.rpc import Connection, InferenceClient

        client = InferenceClient(Connection(parse_grpc_address(spec), auth_token=auth_token))
        resources.callback(client.close)

        def remote(prompts: list[Prompt], params: SamplingParams) -> list[list[str]]:
            return [[c.text for c in group] for group in client.generate(prompts, params)]

        return MatrixModel(client.model_info().model, remote)

    from reasonloop.extras import requires

    with requires("models"):
        from transformers.utils import logging as hf_logging

    from reasonloop.models.loading import load_model
    from reasonloop.rpc.engine import InferenceEngine

    hf_logging.disable_progress_bar()
    with loading(f"loading {spec}"):
        engine = InferenceEngine(load_model(spec, device=device))
    resources.callback(engine.close)

    def local(prompts: list[Prompt], params: SamplingParams) -> list[list[str]]:
        groups: list[list[str]] = [[] for _ in prompts]
        for c in engine.submit(prompts, params).completions():
            groups[c.prompt_index].append(c.text)
        return groups

    return MatrixModel(spec, local)


def open_matrix(
    model_specs: Sequence[str],
    benchmark_specs: Sequence[str],
    *,
    grader: str = "math",
    auth_token: str | None = None,
    device: str | None = None,
    resources: ExitStack,
    loading: Loading = lambda _: nullcontext(),
) -> tuple[list[MatrixModel], list[MatrixBenchmark]]:
    """Rows and columns for `evaluate_matrix`, each set up once and labelled uniquely
    (`unique_labels`): benchmarks first, so a bad task file fails before a model loads."""
    columns = [open_benchmark(b, grader, auth_token, resources) for b in benchmark_specs]
    labels = unique_labels([c.label for c in columns], benchmark_specs)
    columns = [replace(c, label=label) for c, label in zip(columns, labels, strict=True)]
    rows = [open_model(m, auth_token, device, resources, loading) for m in model_specs]
    labels = unique_labels([r.label for r in rows], model_specs)
    rows = [replace(r, label=label) for r, label in zip(rows, labels, strict=True)]
    return rows, columns


def matrix_tasks(benchmarks: Sequence[MatrixBenchmark], limit: int | None) -> int:
    """How many tasks one model answers over `benchmarks` (for a progress bar)."""
    return sum(min(limit, len(b.tasks)) if limit else len(b.tasks) for b in benchmarks)
