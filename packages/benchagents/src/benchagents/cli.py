"""`benchagents` command line: create a benchmark with agents (and a person), evaluate, serve.

    benchagents create calendar --auto          # the embedded defaults: smollm2-135m, offline
    benchagents create text --review            # pause after each stage for a person
    benchagents resume RUN                      # continue after a quit, a stop or Ctrl-C
    benchagents evaluate RUN --target openai:gpt-4o-mini
    benchagents serve-benchmark RUN --port 50052

Expected failures print one `error: ...` line and exit with status 2 (as every reasonloop CLI).
A described domain's code (LLM-written, or from a downloaded run) runs only in OS isolation
(`reasonloop.sandbox`); where the host has none, commands that would run it refuse, unless
`--unsafe-no-sandbox` says to run it without.
"""

from __future__ import annotations

import os
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from reasonloop.cli import add_version_option, err, fail, out

if TYPE_CHECKING:
    from benchagents.llm import Endpoints
    from benchagents.pipeline import Pipeline, Stage

app = typer.Typer(
    name="benchagents",
    help="Agents that plan, generate, verify and evaluate benchmarks, with a person in the loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
add_version_option(app, "reasonloop-benchagents")

STAGE_NAMES = ("planning", "generation", "verification", "evaluation")

BaseUrl = Annotated[
    str | None,
    typer.Option(envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint (openai: backends)."),
]
ApiKey = Annotated[
    str | None,
    typer.Option(envvar="OPENAI_API_KEY", help="Its API key.", show_default=False),
]
Model = Annotated[
    str | None, typer.Option(envvar="OPENAI_MODEL", help="Model of a bare `openai` spec.")
]
AuthToken = Annotated[
    str | None,
    typer.Option(envvar="REASONLOOP_AUTH_TOKEN", help="Bearer token of grpc: servers."),
]
Device = Annotated[str | None, typer.Option(help="Local models: cpu, cuda (default: auto).")]
MetricOption = Annotated[
    str | None,
    typer.Option(
        "--metric",
        help="Score in strict (our checks) or reference (BA-Calendar's published metric, "
        "calendar only); reports show the other beside it.",
    ),
]
StopAfter = Annotated[
    str | None, typer.Option(help="Stop after this stage (state saved; resume continues).")
]
UnsafeNoSandbox = Annotated[
    bool,
    typer.Option(
        "--unsafe-no-sandbox",
        help="Where OS isolation (bubblewrap) is unavailable, run a described domain's code "
        "WITHOUT it (as REASONLOOP_UNSAFE_NO_SANDBOX=1): it can then read your files and keys.",
    ),
]


def _endpoints(
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    auth_token: str | None,
    device: str | None,
) -> Endpoints:
    from benchagents.llm import Endpoints

    return Endpoints(base_url, api_key, model, auth_token, device)


def _ui() -> Any:
    from benchagents.pipeline import UI

    return UI(out, err)


def _metric(name: str | None) -> str | None:
    from benchagents.scoring import METRICS

    if name is not None and name not in METRICS:
        raise fail(f"--metric must be one of {', '.join(METRICS)}, not {name!r}")
    return name


def _stage(name: str | None) -> Stage | None:
    if name is not None and name not in STAGE_NAMES:
        raise fail(f"--stop-after must be one of {', '.join(STAGE_NAMES)}, not {name!r}")
    return name  # type: ignore[return-value]


def _expected_errors() -> tuple[type[BaseException], ...]:
    """What a user can cause (bad input, a missing file, an unreachable backend, a host that
    cannot isolate untrusted code)."""
    from benchagents.llm import BackendError
    from benchagents.pipeline import PipelineError
    from reasonloop.sandbox import SandboxError

    return (PipelineError, BackendError, ValueError, OSError, SandboxError)


def _sandbox(described: bool, unsafe_no_sandbox: bool) -> None:
    """Before a described domain's code runs: refuse now (SandboxError) if it could not be
    isolated, unless the user opted out, which is said loudly."""
    from reasonloop.sandbox import UnsafeSandboxWarning, require_isolation
    from reasonloop.sandbox.isolation import UNSAFE_ENV

    if unsafe_no_sandbox:
        os.environ[UNSAFE_ENV] = "1"
    if not described:
        return
    with warnings.catch_warnings(record=True, category=UnsafeSandboxWarning) as unsafe:
        require_isolation()
    if unsafe:
        err.print(f"[bold red]WARNING:[/bold red] {unsafe[0].message}", soft_wrap=True)


def _drive(pipeline: Pipeline, stop_after: Stage | None, started: float) -> None:
    """Run to the end or a stop; print the run's figures either way."""
    from benchagents.pipeline import Stopped
    from reasonloop.interrupt import INTERRUPTED_EXIT, stop_on_signals

    # SIGTERM (a scheduler's) as Ctrl-C; a repeat within a moment cuts neither the save nor
    # the summary
    with stop_on_signals():
        try:
            pipeline.run(stop_after)
        except Stopped as stop:
            _print_summary(pipeline, time.monotonic() - started)
            out.print(
                f"stopped at {stop.stage} ({stop.reason}); continue with: "
                f"benchagents resume {pipeline.run_dir}"
            )
            if stop.reason == "interrupted":
                raise typer.Exit(INTERRUPTED_EXIT) from None
            return
        _print_summary(pipeline, time.monotonic() - started)


def _print_summary(pipeline: Pipeline, elapsed_s: float | None = None) -> None:
    summary = pipeline.summary()
    table = Table(title=f"run {summary['run']} ({summary['domain']}, stage {summary['stage']})")
    table.add_column("")
    table.add_column("value")
    stats = summary["verification"]
    if stats:
        table.add_row("instances generated", str(stats["generated"]))
        table.add_row("verified", str(stats["verified"]))
        table.add_row("repaired", str(stats["repaired"]))
        table.add_row("LLM rewrites reverted", str(stats["rewrites_reverted"]))
        rejected = stats["rejected"]
        table.add_row("rejected", str(sum(rejected.values())))
        for reason, count in rejected.items():
            table.add_row(f"  rejected: {reason}", str(count))
        for answer, count in stats["llm_checks"].items():
            table.add_row(f"LLM check {answer}", str(count))
    if summary["dataset"]:
        table.add_row("dataset", summary["dataset"])
    for name, score in summary["evaluation"].items():
        label = f"{name} ({score['instances']} x {score['samples']})"
        table.add_row(f"{label} all correct", f"{score['all_correct']:.3f}")
        table.add_row(f"{label} fraction passed", f"{score['fraction_passed']:.3f}")
    if elapsed_s is not None:
        table.add_row("time", f"{elapsed_s:.0f} s")
    out.print(table)


@app.command()
def create(
    domain: Annotated[str, typer.Argument(help="calendar, text or described.")],
    run_dir: Annotated[
        Path | None, typer.Option(help="Where the run lives (default: runs/DOMAIN-TIME).")
    ] = None,
    count: Annotated[int, typer.Option(help="Instances to generate.")] = 60,
    seed: int = 0,
    backend: Annotated[
        str, typer.Option(help="The agents' LLM: local:MODEL, grpc:HOST:PORT or openai:MODEL.")
    ] = "local:smollm2-135m",
    target: Annotated[
        list[str] | None,
        typer.Option(help="A model to evaluate (repeatable; default: the backend's)."),
    ] = None,
    samples: Annotated[int, typer.Option(help="Answers per instance and target.")] = 2,
    eval_limit: Annotated[int, typer.Option(help="Verified instances evaluated.")] = 20,
    eval_max_tokens: Annotated[int, typer.Option(help="Answer length limit of targets.")] = 24,
    review: Annotated[
        bool, typer.Option("--review/--auto", help="Pause after each stage for a person.")
    ] = False,
    description: Annotated[
        str | None, typer.Option(help="What the benchmark should be (needed by described).")
    ] = None,
    draft: Annotated[
        Path | None,
        typer.Option(help="described: a draft directory (plan.yaml, generator.py, checker.py)."),
    ] = None,
    llm_checks: Annotated[
        str, typer.Option(help="LLM verification checks: off, advisory or enforce.")
    ] = "advisory",
    llm_check_limit: Annotated[
        int, typer.Option(help="Instances the LLM checks look at (0: all).")
    ] = 10,
    rewrite: Annotated[
        bool, typer.Option(help="Let the LLM rephrase the domain's rewritable text.")
    ] = True,
    llm_generator: Annotated[
        bool,
        typer.Option(
            "--llm-generator",
            help="calendar/text: the backend writes the generator code (run in the sandbox, "
            "its instances verified by the domain's code) instead of the hand-written one.",
        ),
    ] = False,
    metric: MetricOption = None,
    stop_after: StopAfter = None,
    unsafe_no_sandbox: UnsafeNoSandbox = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    model: Model = None,
    auth_token: AuthToken = None,
    device: Device = None,
) -> None:
    """Create a benchmark: planning, generation, verification, evaluation."""
    from pydantic import ValidationError

    from benchagents.pipeline import DESCRIBED, Pipeline, RunConfig

    started = time.monotonic()
    stage = _stage(stop_after)
    metric = _metric(metric)
    run_dir = run_dir or Path("runs") / f"{domain}-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        config = RunConfig(
            domain=domain,
            count=count,
            seed=seed,
            backend=backend,
            targets=target or [],
            samples=samples,
            eval_limit=eval_limit,
            eval_max_tokens=eval_max_tokens,
            rewrite=rewrite,
            llm_checks=llm_checks,  # type: ignore[arg-type]
            llm_check_limit=llm_check_limit,
            description=description,
            draft=str(draft) if draft else None,
            review=review,
            llm_generator=llm_generator,
            **({"metric": metric} if metric else {}),
        )
    except ValidationError as error:
        item = error.errors()[0]
        raise fail(f"--{str(item['loc'][0]).replace('_', '-')}: {item['msg']}") from None
    endpoints = _endpoints(base_url, api_key, model, auth_token, device)
    try:
        _sandbox(domain == DESCRIBED or llm_generator, unsafe_no_sandbox)
        with Pipeline.create(run_dir, config, _ui(), endpoints) as pipeline:
            out.print(f"run: {run_dir}")
            _drive(pipeline, stage, started)
    except _expected_errors() as error:
        raise fail(str(error)) from None


@app.command()
def resume(
    run: Annotated[Path, typer.Argument(help="The run directory.")],
    review: Annotated[
        bool | None,
        typer.Option("--review/--auto", help="Change the run's review mode from here on."),
    ] = None,
    stop_after: StopAfter = None,
    unsafe_no_sandbox: UnsafeNoSandbox = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    model: Model = None,
    auth_token: AuthToken = None,
    device: Device = None,
) -> None:
    """Continue a run where it stopped."""
    from benchagents.pipeline import DESCRIBED, Pipeline

    started = time.monotonic()
    stage = _stage(stop_after)
    endpoints = _endpoints(base_url, api_key, model, auth_token, device)
    try:
        with Pipeline.open(run, _ui(), endpoints) as pipeline:
            runs_code = pipeline.state.config.llm_generator
            _sandbox(pipeline.state.domain == DESCRIBED or runs_code, unsafe_no_sandbox)
            if review is not None:
                pipeline.state.config.review = review
            if pipeline.state.stage == "done":
                out.print(f"{run} is done already")
            else:
                out.print(f"resuming {run} at {pipeline.state.stage}")
            _drive(pipeline, stage, started)
    except _expected_errors() as error:
        raise fail(str(error)) from None


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run with a dataset.")],
    target: Annotated[
        list[str], typer.Option(help="Model to evaluate: local:, grpc: or openai: (repeatable).")
    ],
    samples: Annotated[int | None, typer.Option(help="Answers per instance.")] = None,
    metric: MetricOption = None,
    unsafe_no_sandbox: UnsafeNoSandbox = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    model: Model = None,
    auth_token: AuthToken = None,
    device: Device = None,
) -> None:
    """Evaluate (another) model on a run's latest dataset."""
    from benchagents.pipeline import DESCRIBED, Pipeline
    from benchagents.scoring import reference_grader

    if samples is not None and samples < 1:
        raise fail(f"--samples must be >= 1, got {samples}")
    metric = _metric(metric)
    endpoints = _endpoints(base_url, api_key, model, auth_token, device)
    try:
        with Pipeline.open(run, _ui(), endpoints) as pipeline:
            _sandbox(pipeline.state.domain == DESCRIBED, unsafe_no_sandbox)
            if metric == "reference" and reference_grader(pipeline.domain) is None:
                raise fail(f"--metric reference: the {pipeline.domain.name} domain has none")
            for spec in target:
                pipeline.evaluate(spec, samples=samples, metric=metric)  # type: ignore[arg-type]
    except _expected_errors() as error:
        raise fail(str(error)) from None


@app.command("import-ba-calendar")
def import_ba_calendar(
    source: Annotated[
        str, typer.Argument(help="A BA-Calendar JSONL file, or hub[:SPLIT] (needs network).")
    ],
    run_dir: Annotated[Path, typer.Option(help="The run to create.")],
) -> None:
    """Import BA-Calendar rows as a run's dataset (then: resume or evaluate it)."""
    from benchagents.domains.calendar.ba_calendar import (
        load_ba_calendar_hub,
        load_ba_calendar_jsonl,
    )
    from benchagents.pipeline import Pipeline

    try:
        if source == "hub" or source.startswith("hub:"):
            instances = load_ba_calendar_hub(source.partition(":")[2] or None)
        else:
            instances = load_ba_calendar_jsonl(source)
        with Pipeline.imported(run_dir, "calendar", instances, source, _ui()) as pipeline:
            out.print(f"imported {len(instances)} instances: {pipeline.state.dataset}")
            out.print(f"evaluate with: benchagents evaluate {run_dir} --target SPEC")
    except _expected_errors() as error:
        raise fail(str(error)) from None


@app.command("serve-benchmark")
def serve_benchmark(
    run: Annotated[Path, typer.Argument(help="A run with a dataset.")],
    host: str = "127.0.0.1",
    port: int = 50052,
    auth_token: AuthToken = None,
    unsafe_no_sandbox: UnsafeNoSandbox = False,
) -> None:
    """Serve a run's latest dataset as a gRPC Benchmark service (Grade runs the checkers)."""
    from benchagents.benchmark import serve_dataset
    from benchagents.pipeline import DESCRIBED, Pipeline
    from reasonloop.rpc import ServerOptions

    try:
        with Pipeline.open(run, _ui()) as pipeline:
            _sandbox(pipeline.state.domain == DESCRIBED, unsafe_no_sandbox)
            options = ServerOptions(host=host, port=port, auth_token=auth_token)
            server = serve_dataset(run, options, pipeline.domain)
    except _expected_errors() as error:
        raise fail(str(error)) from None
    err.print(f"serving {run} on {host}:{server.port} (gRPC Benchmark service); Ctrl-C stops")
    server.wait()


@app.command()
def show(run: Annotated[Path, typer.Argument(help="The run directory.")]) -> None:
    """Where a run is: stage, counts, scores."""
    from benchagents.pipeline import Pipeline

    try:
        with Pipeline.open(run, _ui()) as pipeline:
            state = pipeline.state
            waiting = " (awaiting review)" if state.awaiting_review else ""
            out.print(f"stage: {state.stage}{waiting}")
            for entry in state.history:
                out.print(f"  {entry['stage']} finished {entry['finished']}")
            _print_summary(pipeline)
    except _expected_errors() as error:
        raise fail(str(error)) from None


if __name__ == "__main__":
    app()
