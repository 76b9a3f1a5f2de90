"""`benchagents` command line: create a benchmark with agents (and a person), evaluate, serve.

    benchagents create calendar --auto --run-dir RUN   # the defaults: smollm2-135m, offline
    benchagents create text --review                   # pause after each stage for a person
    benchagents create --resume --run-dir RUN          # continue after a quit, a stop or Ctrl-C
    benchagents evaluate --run-dir RUN --target openai:gpt-4o-mini
    benchagents serve-benchmark --run-dir RUN          # port 50055

The options shared with the other CLIs (--config, --set, --run-dir, --resume, --seed, --device,
--limit, the serve options) are reasonloop.cli_options'; backends and targets are a model spec,
grpc://HOST:PORT or openai:MODEL (benchagents.llm.specs), addresses checked before any work.

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

from reasonloop.addresses import is_remote
from reasonloop.cli_options import (
    BENCHMARK_PORTS,
    ClientAuthOption,
    ConfigOption,
    DeviceOption,
    HostOption,
    LimitOption,
    PortOption,
    ResumeOption,
    RunDirOption,
    SeedOption,
    ServerAuthOption,
    SetOption,
    TlsCertOption,
    TlsKeyOption,
    add_version_option,
    check_address,
    configured,
    deprecated,
    err,
    fail,
    out,
    server_options,
    warn,
)

if TYPE_CHECKING:
    from benchagents.config import RunConfig
    from benchagents.llm import Endpoints
    from benchagents.pipeline import Pipeline
    from benchagents.run_files import Stage
    from benchagents.scoring import Metric

app = typer.Typer(
    name="benchagents",
    help="Agents that plan, generate, verify and evaluate benchmarks, with a person in the loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
add_version_option(app, "reasonloop-benchagents")

STAGE_NAMES: tuple[Stage, ...] = ("planning", "generation", "verification", "evaluation")

BaseUrl = Annotated[
    str | None,
    typer.Option(envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint (openai: backends)."),
]
ApiKey = Annotated[
    str | None,
    typer.Option(envvar="OPENAI_API_KEY", help="Its API key.", show_default=False),
]
OpenAIModel = Annotated[
    str | None, typer.Option(envvar="OPENAI_MODEL", help="Model of a bare `openai` spec.")
]
OldModel = Annotated[str | None, typer.Option("--model", hidden=True)]  # now --openai-model
MetricOption = Annotated[
    str | None,
    typer.Option(
        "--metric",
        help="Score in strict (our checks) or reference (BA-Calendar's published metric, "
        "calendar only); reports show the other beside it.",
    ),
]
StopAfter = Annotated[
    str | None, typer.Option(help="Stop after this stage (state saved; --resume continues).")
]
UnsafeNoSandbox = Annotated[
    bool,
    typer.Option(
        "--unsafe-no-sandbox",
        help="Where OS isolation (bubblewrap) is unavailable, run a described domain's code "
        "WITHOUT it (as REASONLOOP_UNSAFE_NO_SANDBOX=1): it can then read your files and keys.",
    ),
]


def _llm_specs(option: str) -> Any:
    """A callback that checks the grpc addresses among backend specs while the command line
    is parsed (before any work) and rewrites the old `grpc:HOST:PORT` with a warning."""

    def check(value: str | list[str] | None) -> str | list[str] | None:
        from benchagents.llm.specs import canonical_spec

        items = [value] if isinstance(value, str) else value or []
        specs = [canonical_spec(item) for item in items]
        for item, spec in zip(items, specs, strict=True):
            if spec != item:
                warn(f"{option} {item}: grpc:HOST:PORT is deprecated; use {spec}")
            if is_remote(spec):
                check_address(option, spec)
        return specs[0] if isinstance(value, str) else specs if value is not None else None

    return check


SPEC_HELP = "a model spec (in-process; `local:MODEL` is an alias), grpc://HOST:PORT or openai:MODEL"
Backend = Annotated[
    str | None,
    typer.Option(
        callback=_llm_specs("--backend"),
        show_default="smollm2-135m",
        help=f"The agents' LLM: {SPEC_HELP}.",
    ),
]
Targets = Annotated[
    list[str] | None,
    typer.Option(
        callback=_llm_specs("--target"),
        help=f"A model to evaluate (repeatable): {SPEC_HELP}.",
    ),
]
OldRun = Annotated[Path | None, typer.Argument(hidden=True, show_default=False)]


def _run_dir(run_dir: Path | None, old_run: Path | None) -> Path:
    """--run-dir, or the old positional RUN (with a warning); one of them is needed."""
    run = deprecated(old_run, "the positional RUN", run_dir, "--run-dir")
    if run is None:
        raise fail("--run-dir: the run directory is needed")
    return run


def _endpoints(
    base_url: str | None,
    api_key: str | None,
    openai_model: str | None,
    old_model: str | None,
    auth_token: str | None,
    device: str | None,
) -> Endpoints:
    from benchagents.llm import Endpoints

    model = deprecated(old_model, "--model", openai_model, "--openai-model")
    return Endpoints(base_url, api_key, model, auth_token, device)


def _ui() -> Any:
    from benchagents.ui import UI

    return UI(out, err)


def _metric(name: str | None) -> Metric | None:
    from benchagents.scoring import METRICS

    if name is not None and name not in METRICS:
        raise fail(f"--metric must be one of {', '.join(METRICS)}, not {name!r}")
    return name


def _stage(name: str | None) -> Stage | None:
    if name is not None and name not in STAGE_NAMES:
        raise fail(f"--stop-after must be one of {', '.join(STAGE_NAMES)}, not {name!r}")
    return name


def _expected_errors() -> tuple[type[BaseException], ...]:
    """What a user can cause (bad input, a missing file, an unreachable backend, a host that
    cannot isolate untrusted code)."""
    from benchagents.llm import BackendError
    from benchagents.run_files import PipelineError
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
                f"benchagents create --resume --run-dir {pipeline.run_dir}"
            )
            if stop.reason == "interrupted":
                raise typer.Exit(INTERRUPTED_EXIT) from None
            return
        _print_summary(pipeline, time.monotonic() - started)
    out.print(f"run: {pipeline.run_dir} (dataset, evaluation/ reports, state.json)")


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
    domain: Annotated[
        str | None,
        typer.Argument(help="calendar, text or described (or the --config file's domain)."),
    ] = None,
    config_path: ConfigOption = None,
    settings: SetOption = None,
    run_dir: RunDirOption = None,
    resume: ResumeOption = False,
    count: Annotated[
        int | None,
        typer.Option(show_default="60", help="Instances to generate (generation.count)."),
    ] = None,
    seed: SeedOption = None,
    backend: Backend = None,
    target: Targets = None,
    samples: Annotated[
        int | None,
        typer.Option(
            show_default="2", help="Answers per instance and target (evaluation.samples)."
        ),
    ] = None,
    limit: LimitOption = None,
    max_new_tokens: Annotated[
        int | None,
        typer.Option(
            show_default="24", help="Answer length limit of targets (evaluation.max_new_tokens)."
        ),
    ] = None,
    review: Annotated[
        bool | None,
        typer.Option(
            "--review/--auto", show_default="auto", help="Pause after each stage for a person."
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="What the benchmark should be (needed by described).")
    ] = None,
    draft: Annotated[
        Path | None,
        typer.Option(help="described: a draft directory (plan.yaml, generator.py, checker.py)."),
    ] = None,
    llm_checks: Annotated[
        str | None,
        typer.Option(
            show_default="advisory", help="LLM verification checks: off, advisory or enforce."
        ),
    ] = None,
    llm_check_limit: Annotated[
        int | None,
        typer.Option(show_default="10", help="Instances the LLM checks look at (0: all)."),
    ] = None,
    rewrite: Annotated[
        bool | None,
        typer.Option(
            show_default="rewrite", help="Let the LLM rephrase the domain's rewritable text."
        ),
    ] = None,
    llm_generator: Annotated[
        bool | None,
        typer.Option(
            help="calendar/text: the backend writes the generator code (run in the sandbox, "
            "its instances verified by the domain's code) instead of the hand-written one.",
        ),
    ] = None,
    metric: MetricOption = None,
    stop_after: StopAfter = None,
    unsafe_no_sandbox: UnsafeNoSandbox = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    openai_model: OpenAIModel = None,
    auth_token: ClientAuthOption = None,
    device: DeviceOption = None,
    old_model: OldModel = None,
    old_eval_limit: Annotated[int | None, typer.Option("--eval-limit", hidden=True)] = None,
    old_eval_max_tokens: Annotated[
        int | None, typer.Option("--eval-max-tokens", hidden=True)
    ] = None,
) -> None:
    """Create a benchmark: planning, generation, verification, evaluation.

    The run's config is --config FILE (TOML/YAML/JSON in sections: domain, backend, generation,
    verification, evaluation, run; some options name their field in parentheses) or the
    defaults for DOMAIN, changed by the options and --set SECTION.KEY=VALUE. --resume continues
    the run in --run-dir with the config it was created with."""
    started = time.monotonic()
    stage = _stage(stop_after)
    limit = deprecated(old_eval_limit, "--eval-limit", limit, "--limit")
    max_new_tokens = deprecated(
        old_eval_max_tokens, "--eval-max-tokens", max_new_tokens, "--max-new-tokens"
    )
    endpoints = _endpoints(base_url, api_key, openai_model, old_model, auth_token, device)
    shortcuts = {
        "domain.name": domain,
        "domain.description": description,
        "domain.draft": str(draft) if draft else None,
        "backend.spec": backend,
        "generation.count": count,
        "generation.rewrite": rewrite,
        "generation.llm_generator": llm_generator,
        "verification.llm_checks": llm_checks,
        "verification.llm_check_limit": llm_check_limit,
        "evaluation.targets": target,
        "evaluation.samples": samples,
        "evaluation.limit": limit,
        "evaluation.max_new_tokens": max_new_tokens,
        "evaluation.metric": _metric(metric),
        "run.seed": seed,
    }
    if resume:
        changed = [k for k, v in shortcuts.items() if v is not None]
        changed += ["--config"] * (config_path is not None) + ["--set"] * bool(settings)
        if changed:
            raise fail(
                f"--resume: the run keeps the config it was created with ({', '.join(changed)} "
                "would change it; only --review/--auto may)"
            )
        if run_dir is None:
            raise fail("--resume: --run-dir names the run to continue")
        _continue(run_dir, review, stage, unsafe_no_sandbox, endpoints, started)
        return
    try:
        config = _new_config(config_path, settings, shortcuts | {"run.review": review})
    except ValueError as error:
        raise fail(str(error)) from None
    _create(config, run_dir, stage, unsafe_no_sandbox, endpoints, started)


def _new_config(
    path: Path | None, settings: list[str] | None, shortcuts: dict[str, Any]
) -> RunConfig:
    """The --config file (or the defaults for DOMAIN), the shortcut options, then --set."""
    from benchagents.config import RunConfig, load_config

    if path is not None:
        base = load_config(path)
    elif shortcuts["domain.name"] is None:
        raise ValueError("DOMAIN is needed (calendar, text or described), or a --config naming it")
    else:
        base = RunConfig.for_domain(shortcuts["domain.name"])
    return configured(base, _sectioned_keys(settings or []), shortcuts)


def _sectioned_keys(settings: list[str]) -> list[str]:
    """`--set` items, a key of the flat config before the sections (`count=5`) rewritten to
    its section's (`generation.count=5`) with a warning."""
    from benchagents.config import FLAT_FIELDS

    items = []
    for item in settings:
        key, sep, value = item.partition("=")
        if sep and key.strip() in FLAT_FIELDS:
            new = FLAT_FIELDS[key.strip()]
            warn(f"--set {key.strip()}: the flat key is deprecated; use {new}")
            item = f"{new}={value}"
        items.append(item)
    return items


def _create(
    config: RunConfig,
    run_dir: Path | None,
    stage: Stage | None,
    unsafe_no_sandbox: bool,
    endpoints: Endpoints,
    started: float,
) -> None:
    from benchagents.config import DESCRIBED
    from benchagents.pipeline import Pipeline

    name = config.domain.name
    run_dir = run_dir or Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        _sandbox(name == DESCRIBED or config.generation.llm_generator, unsafe_no_sandbox)
        with Pipeline.create(run_dir, config, _ui(), endpoints) as pipeline:
            out.print(f"run: {run_dir}")
            _drive(pipeline, stage, started)
    except _expected_errors() as error:
        raise fail(str(error)) from None


def _continue(
    run: Path,
    review: bool | None,
    stage: Stage | None,
    unsafe_no_sandbox: bool,
    endpoints: Endpoints,
    started: float,
) -> None:
    """Continue the run in `run` where it stopped (`review`: change its review mode)."""
    from benchagents.config import DESCRIBED
    from benchagents.pipeline import Pipeline

    try:
        with Pipeline.open(run, _ui(), endpoints) as pipeline:
            state = pipeline.state
            runs_code = state.config.generation.llm_generator
            _sandbox(state.domain == DESCRIBED or runs_code, unsafe_no_sandbox)
            if review is not None:
                state.config = state.config.with_overrides(run={"review": review})
            if state.stage == "done":
                out.print(f"{run} is done already")
            else:
                out.print(f"resuming {run} at {state.stage}")
            _drive(pipeline, stage, started)
    except _expected_errors() as error:
        raise fail(str(error)) from None


@app.command(hidden=True)
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
    openai_model: OpenAIModel = None,
    auth_token: ClientAuthOption = None,
    device: DeviceOption = None,
    old_model: OldModel = None,
) -> None:
    """Deprecated: benchagents create --resume --run-dir RUN."""
    warn("`benchagents resume RUN` is deprecated; use `benchagents create --resume --run-dir RUN`")
    endpoints = _endpoints(base_url, api_key, openai_model, old_model, auth_token, device)
    _continue(run, review, _stage(stop_after), unsafe_no_sandbox, endpoints, time.monotonic())


@app.command()
def evaluate(
    target: Targets = None,
    run_dir: RunDirOption = None,
    samples: Annotated[int | None, typer.Option(help="Answers per instance.")] = None,
    metric: MetricOption = None,
    unsafe_no_sandbox: UnsafeNoSandbox = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    openai_model: OpenAIModel = None,
    auth_token: ClientAuthOption = None,
    device: DeviceOption = None,
    old_model: OldModel = None,
    old_run: OldRun = None,
) -> None:
    """Evaluate (another) model on the latest dataset of the run in --run-dir."""
    from benchagents.config import DESCRIBED
    from benchagents.pipeline import Pipeline
    from benchagents.scoring import reference_grader

    run = _run_dir(run_dir, old_run)
    if not target:
        raise fail("--target: a model to evaluate is needed")
    if samples is not None and samples < 1:
        raise fail(f"--samples must be >= 1, got {samples}")
    metric = _metric(metric)
    endpoints = _endpoints(base_url, api_key, openai_model, old_model, auth_token, device)
    try:
        with Pipeline.open(run, _ui(), endpoints) as pipeline:
            _sandbox(pipeline.state.domain == DESCRIBED, unsafe_no_sandbox)
            if metric == "reference" and reference_grader(pipeline.domain) is None:
                raise fail(f"--metric reference: the {pipeline.domain.name} domain has none")
            for spec in target:
                pipeline.evaluate(spec, samples=samples, metric=metric)
    except _expected_errors() as error:
        raise fail(str(error)) from None
    out.print(f"reports: {run / 'evaluation'}")


@app.command("import-ba-calendar")
def import_ba_calendar(
    source: Annotated[
        str, typer.Argument(help="A BA-Calendar JSONL file, or hub[:SPLIT] (needs network).")
    ],
    run_dir: RunDirOption = None,
) -> None:
    """Import BA-Calendar rows as a run's dataset (then: create --resume, or evaluate it)."""
    from benchagents.domains.calendar.ba_calendar import (
        load_ba_calendar_hub,
        load_ba_calendar_jsonl,
    )
    from benchagents.pipeline import Pipeline

    if run_dir is None:
        raise fail("--run-dir: the run to create is needed")
    try:
        if source == "hub" or source.startswith("hub:"):
            instances = load_ba_calendar_hub(source.partition(":")[2] or None)
        else:
            instances = load_ba_calendar_jsonl(source)
        with Pipeline.imported(run_dir, "calendar", instances, source, _ui()) as pipeline:
            out.print(f"imported {len(instances)} instances: {pipeline.state.dataset}")
            out.print(f"evaluate with: benchagents evaluate --run-dir {run_dir} --target SPEC")
    except _expected_errors() as error:
        raise fail(str(error)) from None


@app.command("serve-benchmark")
def serve_benchmark(
    run_dir: RunDirOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = BENCHMARK_PORTS["benchagents"],
    auth_token: ServerAuthOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    unsafe_no_sandbox: UnsafeNoSandbox = False,
    old_run: OldRun = None,
) -> None:
    """Serve the latest dataset of the run in --run-dir as a gRPC Benchmark service (Grade
    runs the checkers)."""
    from benchagents.benchmark import serve_dataset
    from benchagents.config import DESCRIBED
    from benchagents.pipeline import Pipeline

    run = _run_dir(run_dir, old_run)
    try:
        with Pipeline.open(run, _ui()) as pipeline:
            _sandbox(pipeline.state.domain == DESCRIBED, unsafe_no_sandbox)
            options = server_options(host, port, auth_token, tls_cert, tls_key)
            server = serve_dataset(run, options, pipeline.domain)
    except _expected_errors() as error:
        raise fail(str(error)) from None
    err.print(f"serving {run} on {host}:{server.port} (gRPC Benchmark service); Ctrl-C stops")
    server.wait()


@app.command()
def show(run_dir: RunDirOption = None, old_run: OldRun = None) -> None:
    """Where the run in --run-dir is: stage, counts, scores."""
    from benchagents.pipeline import Pipeline

    run = _run_dir(run_dir, old_run)
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
