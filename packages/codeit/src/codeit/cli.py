"""`codeit` command line: the CodeIt loop, task pictures, and ARC through the Benchmark service.

Heavy imports happen inside the commands so that `--help` is instant. Expected failures (a bad
config, an unknown task, a run directory in the way) print one `error:` line and exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reasonloop.cli_options import (
    BENCHMARK_PORTS,
    ConfigOption,
    DeviceOption,
    HostOption,
    IterationsOption,
    LimitOption,
    ModelOption,
    PortOption,
    ResumeOption,
    RunDirWithDefault,
    SeedOption,
    ServerAuthOption,
    SetOption,
    TlsCertOption,
    TlsKeyOption,
    add_version_option,
    configured,
    err,
    fail,
    out,
    server_options,
)
from reasonloop.interrupt import INTERRUPTED_EXIT, stop_on_signals

if TYPE_CHECKING:
    from codeit.config import CodeitConfig
    from codeit.data import ArcTask
    from codeit.loop import CodeitRun, IterationRecord
    from codeit.scoring import Output

app = typer.Typer(
    name="codeit",
    help="ARC as programming-by-examples with prioritized hindsight replay (CodeIt).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
add_version_option(app, "reasonloop-codeit")


def _quiet_hf() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    # raised inside peft's get_peft_model by transformers 5; nothing a user can act on
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")


def _run_loop(run: CodeitRun, label: str) -> list[IterationRecord]:
    """Run the remaining meta-iterations of `run` under a progress bar (a plain line an
    iteration without a terminal)."""
    from reasonloop.progress import step_progress

    done = run.state.iteration if run.state else 0
    with step_progress(err, label, run.config.train.meta_iterations, done) as progress:

        def on_phase(phase: str, done: int, total: int) -> None:
            progress.phase(f"{phase} {done}/{total}")

        def on_iteration(record: IterationRecord) -> None:
            progress.step(record.iteration, f"solved {record.solved}/{record.targets}")

        state = run.run(on_iteration=on_iteration, progress=on_phase)
    return state.history


@app.command()
def run(
    config_path: ConfigOption = None,
    settings: SetOption = None,
    iterations: IterationsOption = None,
    model: ModelOption = None,
    seed: SeedOption = None,
    device: DeviceOption = None,
    run_dir: RunDirWithDefault = Path("runs/codeit"),
    resume: ResumeOption = False,
    baseline: Annotated[
        bool,
        typer.Option(help="Also run the same sampling budget, never learning."),
    ] = True,
) -> None:
    """Run CodeIt: mutation-initialized buffer, then learn / sample / relabel per meta-iteration.

    --iterations, --model and --seed set train.meta_iterations, model.spec and train.seed."""
    from codeit.config import load_config
    from reasonloop.models import check_model_spec

    try:
        config = configured(
            load_config(config_path),
            settings,
            {"train.meta_iterations": iterations, "model.spec": model, "train.seed": seed},
        )
        check_model_spec(config.model.spec)  # a missing model wheel: one line, before set-up
    except ValueError as error:
        raise fail(str(error)) from None
    _quiet_hf()
    histories = _run_both(config, run_dir, resume=resume, baseline=baseline, device=device)
    _report(config, run_dir, histories)


def _run_both(
    config: CodeitConfig, run_dir: Path, *, resume: bool, baseline: bool, device: str | None
) -> dict[str, list[IterationRecord]]:
    from codeit.execution import ProgramRunner
    from codeit.loop import CodeitRun
    from codeit.targets import split_tasks

    histories: dict[str, list[IterationRecord]] = {}
    # SIGTERM (a scheduler's) as Ctrl-C; a repeat within a moment does not cut the clean-up
    with stop_on_signals():
        try:
            with err.status("loading ARC tasks"):
                split = split_tasks(config.data, config.train.seed)
            with ProgramRunner.from_config(config.sandbox) as runner:
                kinds = [("codeit", True)] + ([("baseline", False)] if baseline else [])
                for label, learn in kinds:
                    with err.status(f"loading {config.model.spec} ({label})"):
                        loop = CodeitRun(
                            config,
                            run_dir / label,
                            learn=learn,
                            resume=resume,
                            split=split,
                            runner=runner,
                            device=device,
                        )
                    histories[label] = _run_loop(loop, label)
                    del loop
        except ValueError as error:  # a model spec or device that cannot load, a bad run dir
            raise fail(str(error)) from None
        except KeyboardInterrupt:
            err.print("stopped; the last finished meta-iteration is saved (resume with --resume)")
            raise typer.Exit(INTERRUPTED_EXIT) from None
    return histories


def _report(
    config: CodeitConfig, run_dir: Path, histories: dict[str, list[IterationRecord]]
) -> None:
    """Table of tasks solved per iteration, and report.json + report.png in the run dir."""
    import json

    from rich.table import Table

    from reasonloop.metrics import plot_curves

    labels = list(histories)
    targets = histories["codeit"][0].targets if histories["codeit"] else 0
    table = Table(title=f"tasks solved (cumulative, top-3) of {targets} targets")
    table.add_column("iteration")
    for label in labels:
        table.add_column(label)
    for i in range(config.train.meta_iterations):
        table.add_row(
            str(i + 1),
            *(
                str(histories[label][i].solved) if i < len(histories[label]) else "-"
                for label in labels
            ),
        )
    out.print(table)
    report = {label: [vars(r) for r in history] for label, history in histories.items()}
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot_curves(
        {
            label: ([r.iteration for r in history], [r.solved for r in history])
            for label, history in histories.items()
        },
        run_dir / "report.png",
        title="CodeIt: tasks solved per meta-iteration",
        xlabel="meta-iteration",
        ylabel="tasks solved",
    )
    err.print(f"report: {run_dir / 'report.json'}, {run_dir / 'report.png'}")


@app.command()
def show(
    task_id: Annotated[str, typer.Argument(help="An ARC task id, e.g. 007bbfb7.")],
    source: Annotated[str, typer.Option(help="arc1-train, arc1-eval, arc2-*, or a dir.")] = (
        "arc1-train"
    ),
    program: Annotated[
        str | None, typer.Option(help="A program (text, or @file) whose predictions to draw.")
    ] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="PNG path.")] = None,
) -> None:
    """Draw a task's grids (and a program's predicted test outputs) as a PNG.

    A program that is not one of the language (syntax, types) exits 2 saying why; one that
    runs but fails on a test input is drawn, and each failure is also said in the terminal."""
    from rich.markup import escape

    from codeit.data import load_tasks
    from codeit.render import draw_task

    try:
        source_text = _read_program(program) if program is not None else None
        tasks = {t.id: t for t in load_tasks(source)}
        if task_id not in tasks:
            raise ValueError(f"no task {task_id!r} in {source}")
        task = tasks[task_id]
        predictions = None
        if source_text is not None:
            predictions = _predict(task, source_text)
        path = out_path or Path(f"{task_id}.png")
        draw_task(task, path, predictions=predictions)
    except ValueError as error:
        raise fail(str(error)) from None
    for i, prediction in enumerate(predictions or []):
        if isinstance(prediction, str):  # escaped: the reason's brackets are text, not markup
            err.print(
                f"test {i + 1}: the program gave no grid: {escape(prediction)}",
                highlight=False,
                soft_wrap=True,
            )
    out.print(str(path))


def _read_program(text: str) -> str:
    """The program text of --program (inline, or @file), checked: it parses and type-checks."""
    from codeit.program import MAX_CHARS, ProgramError, check_types, parse

    if text.startswith("@"):
        path = Path(text[1:])
        try:
            if path.stat().st_size > 4 * MAX_CHARS:  # UTF-8: at most 4 bytes a character
                raise ValueError(f"{path} is larger than a program may be ({MAX_CHARS} characters)")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read {path}: {error}") from None
    else:
        text = text.replace("\\n", "\n")
    try:
        check_types(parse(text))
    except ProgramError as error:
        raise ValueError(f"--program is not a valid program: {error}") from None
    return text


def _predict(task: ArcTask, program: str) -> list[Output]:
    from codeit.execution import ProgramRunner

    with ProgramRunner(1) as runner:
        result = runner.run([program], [[e.input for e in task.test]])[0]
    return list(result.outputs)


@app.command("serve-benchmark")
def serve_benchmark_command(
    source: Annotated[str, typer.Option(help="arc1-eval, arc1-train, arc2-*, or a dir.")] = (
        "arc1-eval"
    ),
    limit: LimitOption = None,
    workers: Annotated[int, typer.Option(help="Sandbox worker processes.")] = 2,
    host: HostOption = "127.0.0.1",
    port: PortOption = BENCHMARK_PORTS["codeit"],
    auth_token: ServerAuthOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
) -> None:
    """Serve ARC tasks through the Benchmark service; Grade runs programs in the sandbox."""
    from codeit.benchmark import ArcBenchmark
    from codeit.data import load_tasks
    from codeit.execution import ProgramRunner
    from reasonloop.rpc import serve_benchmark

    try:
        tasks = load_tasks(source)[:limit]
        options = server_options(host, port, auth_token, tls_cert, tls_key)
        runner = ProgramRunner(workers)
        server = serve_benchmark(ArcBenchmark(f"arc:{source}", tasks, runner), options=options)
    except (ValueError, OSError, RuntimeError) as error:
        raise fail(str(error)) from None
    err.print(f"ARC benchmark ({len(tasks)} tasks from {source}) on {host}:{server.port}")
    with runner:
        server.wait()


if __name__ == "__main__":
    app()
