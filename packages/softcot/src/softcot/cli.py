"""`softcot` command line: train, evaluate, export, serve the math tasks, and the demo.

Heavy imports happen inside the commands so that `--help` is instant. Expected failures (a bad
config, a missing file, an unreachable server) print one `error:` line and exit with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# one grammar (options, error style, --version) for every reasonloop CLI
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
    RunDirOption,
    SeedOption,
    ServerAuthOption,
    SetOption,
    TlsCertOption,
    TlsKeyOption,
    add_version_option,
    configured,
    deprecated,
    err,
    fail,
    out,
    server_options,
)
from reasonloop.interrupt import INTERRUPTED_EXIT, stop_on_signals

if TYPE_CHECKING:
    from softcot.config import RunConfig
    from softcot.evaluation import MatrixReport
    from softcot.trainer import StepRecord

app = typer.Typer(
    name="softcot",
    help="RL training of hard, soft and fuzzy chains of thought (Soft Tokens, Hard Truths).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
add_version_option(app, "reasonloop-softcot")
Mode = Annotated[
    str | None, typer.Option(help="Chain-of-thought mode trained: hard, soft or fuzzy.")
]
# the old spellings of --iterations and --run-dir, hidden; they print a deprecation warning
OldSteps = Annotated[int | None, typer.Option("--steps", hidden=True)]
OldOut = Annotated[Path | None, typer.Option("--out", hidden=True)]


def _quiet_hf() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    # raised inside peft's get_peft_model by transformers 5; nothing a user can act on
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")


def _config(
    path: Path | None,
    settings: list[str] | None,
    *,
    mode: str | None = None,
    iterations: int | None = None,
    model: str | None = None,
    seed: int | None = None,
) -> RunConfig:
    """The config file (or the embedded default), the shortcut options, then `--set`."""
    from softcot.config import load_config

    shortcuts = {
        "thinking.mode": mode,
        "train.steps": iterations,
        "model.spec": model,
        "train.seed": seed,
    }
    return configured(load_config(path), settings, shortcuts)


def _train(config: RunConfig, run_dir: Path, resume: bool, device: str | None) -> bool:
    """Train with a progress bar (a plain line a step without a terminal); False when a signal
    (Ctrl-C, a scheduler's SIGTERM) stopped it early, saved. A signal before the first step
    (the model loading) stops at once."""
    with stop_on_signals():  # the trainer's own graceful stop takes over while it trains
        try:
            return _train_with_progress(config, run_dir, resume, device)
        except KeyboardInterrupt:
            err.print(f"stopped; the last checkpoint in {run_dir} is kept (if any)")
            return False


def _train_with_progress(
    config: RunConfig, run_dir: Path, resume: bool, device: str | None
) -> bool:
    from reasonloop.progress import step_progress
    from softcot.trainer import Trainer

    with err.status(f"loading {config.model.spec}"):
        trainer = Trainer(config, run_dir, resume=resume, device=device)
    main = trainer.accelerator.is_main_process  # one bar and one report per launch
    description = f"{config.thinking.mode} RLOO"
    with step_progress(
        err, description, config.train.steps, trainer.step, enabled=main
    ) as progress:

        def on_step(record: StepRecord) -> None:
            stats = (
                f"reward {record.reward:.2f} correct {record.correct:.2f} "
                f"format {record.format:.2f} grad {record.grad_norm:.2g}"
            )
            if record.cot_grad_norm is not None and record.answer_grad_norm is not None:
                stats += f" (cot {record.cot_grad_norm:.2g} answer {record.answer_grad_norm:.2g})"
            stats += f" kept {record.clip_coef:.2f} {record.step_s:.1f} s/step"
            progress.step(record.step, stats)

        trainer.train(on_step)
    if trainer.interrupted:
        if main:
            err.print(f"stopped at step {trainer.step}, saved; continue with --resume")
        return False
    if main:
        err.print(f"trained {trainer.step} steps; run: {run_dir}")
    return True


@app.command()
def train(
    config: ConfigOption = None,
    settings: SetOption = None,
    mode: Mode = None,
    iterations: IterationsOption = None,
    model: ModelOption = None,
    seed: SeedOption = None,
    device: DeviceOption = None,
    run_dir: RunDirOption = None,
    resume: ResumeOption = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            help="Print the batch, memory per process and expected GPU hours; do not train."
        ),
    ] = False,
    processes: Annotated[
        int, typer.Option(help="With --dry-run: the number of processes (GPUs) to plan for.")
    ] = 1,
    old_steps: OldSteps = None,
    old_out: OldOut = None,
) -> None:
    """Train a policy with RLOO in one thinking mode (default: the embedded CPU config).

    --mode, --iterations, --model and --seed set thinking.mode, train.steps, model.spec and
    train.seed; the run goes to --run-dir (default: runs/softcot-MODE)."""
    iterations = deprecated(old_steps, "--steps", iterations, "--iterations")
    run_dir = deprecated(old_out, "--out", run_dir, "--run-dir")
    _quiet_hf()
    try:
        run_config = _config(
            config, settings, mode=mode, iterations=iterations, model=model, seed=seed
        )
        if dry_run:
            _dry_run(run_config, processes)
            return
        run_dir = run_dir or Path("runs") / f"softcot-{run_config.thinking.mode}"
        if not _train(run_config, run_dir, resume, device):
            raise typer.Exit(INTERRUPTED_EXIT)
    except (ValueError, OSError) as error:
        raise fail(str(error)) from None


def _dry_run(config: RunConfig, processes: int) -> None:
    """What `train` would need, from the config alone (no weights, no data, no training)."""
    import importlib.util

    from softcot.estimate import estimate

    with err.status(f"sizing {config.model.spec}"):
        plan = estimate(config, processes=processes)
    for line in plan.lines():
        out.print(line, highlight=False, soft_wrap=True)
    sources = (config.data.train, config.data.test)
    if any(s.startswith("hf:") for s in sources) and importlib.util.find_spec("datasets") is None:
        out.print("note: hf: datasets need `pip install reasonloop-softcot[hub]`", highlight=False)


def _evaluate(
    runs: list[str], config: RunConfig, out_dir: Path, base: str | None, device: str | None
) -> MatrixReport:
    from softcot.evaluation import INFERENCE_MODES, evaluate_matrix
    from softcot.problems import load_problems
    from softcot.trainer import load_policy, problems_for

    known = {m.name: m for m in INFERENCE_MODES}
    unknown = [m for m in config.eval.modes if m not in known]
    if unknown:
        raise ValueError(f"unknown inference modes {unknown}; known: {', '.join(known)}")
    policies = {}
    for spec in ([base] if base else []) + runs:
        with err.status(f"loading {spec}"):
            label, loaded = load_policy(spec, device=device)
        if label in policies:
            label = f"{label}:{Path(spec).name}"
        policies[label] = loaded
    ev = config.eval
    data = config.data
    ood = load_problems(data.ood, split="test", limit=min(data.test_count, 32), seed=0)
    with err.status("evaluating (policies x inference modes)") as status:
        report = evaluate_matrix(
            policies,
            problems_for(config, "test"),
            modes=[known[m] for m in ev.modes],
            samples=ev.samples,
            ks=ev.ks,
            max_new_tokens=ev.max_new_tokens,
            thinking_tokens=ev.thinking_tokens,
            batch_size=ev.batch_size,
            seed=config.train.seed,
            ood_problems=ood,
            on_progress=lambda what: status.update(f"evaluating: {what}"),
        )
    report.write(out_dir)
    out.print(report.table())
    err.print(f"matrix: {out_dir / 'matrix.json'}, {out_dir / 'matrix.png'}")
    return report


@app.command("eval")
def eval_command(
    runs: Annotated[list[str], typer.Argument(help="Run directories or model specs.")],
    base: Annotated[
        str | None, typer.Option(help="Also evaluate this base model (spec) as `base`.")
    ] = None,
    config: ConfigOption = None,
    settings: SetOption = None,
    seed: SeedOption = None,
    device: DeviceOption = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory of the report (matrix.json, matrix.png).")
    ] = Path("runs/eval"),
) -> None:
    """Evaluate policies x inference modes: pass@1 and pass@k with 95% CI, plus OOD checks.

    The data and eval sections come from --config, else from the first run's own config;
    --seed sets train.seed (the sampling seed)."""
    from softcot.config import RunConfig, load_config

    _quiet_hf()
    try:
        run_config = load_config(config)
        first_run = Path(runs[0]) / "run.json"
        if config is None and first_run.is_file():  # evaluate as the run was configured
            run_config = RunConfig.model_validate_json(first_run.read_text())
        run_config = configured(run_config, settings, {"train.seed": seed})
        _evaluate(runs, run_config, out_dir, base, device)
    except (ValueError, OSError) as error:
        raise fail(str(error)) from None


@app.command()
def export(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the HF checkpoint goes.")],
    run_dir: RunDirOption = None,
    device: DeviceOption = None,
    old_run: Annotated[Path | None, typer.Argument(hidden=True, show_default=False)] = None,
) -> None:
    """Export the policy of the run in --run-dir as a plain HF checkpoint (LoRA merged, no
    custom code)."""
    from reasonloop.models.export import merge_and_export
    from softcot.trainer import load_policy

    run = deprecated(old_run, "the positional RUN", run_dir, "--run-dir")
    if run is None:
        raise fail("--run-dir: the run to export is needed")
    _quiet_hf()
    try:
        if not (run / "run.json").is_file():
            raise ValueError(f"{run} is not a softcot run directory (no run.json)")
        _, loaded = load_policy(run, device=device)
        merge_and_export(loaded.model, out_dir, loaded.tokenizer)
    except (ValueError, OSError) as error:
        raise fail(str(error)) from None
    err.print(f"exported to {out_dir}; serve it with: reasonloop serve --model {out_dir}")


@app.command("serve-benchmark")
def serve_benchmark_command(
    dataset: Annotated[
        str, typer.Option(help="builtin:arith, builtin:ood, a .jsonl file or hf:NAME.")
    ] = "builtin:arith",
    split: str = "test",
    limit: LimitOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = BENCHMARK_PORTS["softcot"],
    auth_token: ServerAuthOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    old_count: Annotated[int | None, typer.Option("--count", hidden=True)] = None,
) -> None:
    """Serve math problems through the Benchmark service, graded by the math reward (the
    first 200 problems unless --limit)."""
    from reasonloop.rpc import serve_benchmark
    from softcot.benchmark import math_benchmark
    from softcot.problems import load_problems

    limit = deprecated(old_count, "--count", limit, "--limit") or 200
    try:
        options = server_options(host, port, auth_token, tls_cert, tls_key)
        problems = load_problems(dataset, split=split, limit=limit)
        benchmark = math_benchmark(problems, f"softcot-{dataset}-{split}")
        server = serve_benchmark(benchmark, options=options)
    except (ValueError, OSError) as error:
        raise fail(str(error)) from None
    err.print(f"serving {benchmark.name} ({len(problems)} tasks) on {host}:{server.port}")
    server.wait()


@app.command()
def demo(
    mode: Mode = None,
    iterations: IterationsOption = None,
    model: ModelOption = None,
    seed: SeedOption = None,
    device: DeviceOption = None,
    settings: SetOption = None,
    run_dir: RunDirOption = None,
    testbed: Annotated[
        bool,
        typer.Option(
            help="The CPU testbed instead: hard, soft and fuzzy RL from one supervised warm "
            "start, then the train-mode x inference-mode matrix (softcot.testbed)."
        ),
    ] = False,
    full: Annotated[
        bool, typer.Option(help="With --testbed: 3 seeds and more problems (tighter CIs).")
    ] = False,
    old_steps: OldSteps = None,
    old_out: OldOut = None,
) -> None:
    """The main job: train on the embedded defaults, then evaluate base vs trained.

    A small run: --iterations 1 --model tiny-llama. The training run goes to RUN_DIR/run,
    the evaluation to RUN_DIR/eval (default RUN_DIR: runs/softcot-demo). Run it again to
    continue an interrupted demo (or to re-evaluate a finished one).
    """
    iterations = deprecated(old_steps, "--steps", iterations, "--iterations")
    out_dir: Path | None = deprecated(old_out, "--out", run_dir, "--run-dir")
    _quiet_hf()
    try:
        plain = {
            "--mode": mode,
            "--iterations": iterations,
            "--model": model,
            "--seed": seed,
            "--set": settings,
        }
        given = [option for option, value in plain.items() if value is not None]
        if testbed and given:
            what = "is a setting" if len(given) == 1 else "are settings"
            raise ValueError(f"{', '.join(given)} {what} of the plain demo, not --testbed")
        if testbed:
            _testbed(out_dir or Path("runs") / f"softcot-testbed{'-full' if full else ''}", full)
            return
        if full:
            raise ValueError("--full is a setting of --testbed")
        run_config = _config(
            None, settings, mode=mode, iterations=iterations, model=model, seed=seed
        )
        out_dir = out_dir or Path("runs/softcot-demo")
        run_dir = out_dir / "run"
        if not _train(run_config, run_dir, resume=True, device=device):
            raise typer.Exit(INTERRUPTED_EXIT)
        _evaluate([str(run_dir)], run_config, out_dir / "eval", run_config.model.spec, device)
    except (ValueError, OSError) as error:
        raise fail(str(error)) from None


def _testbed(out_dir: Path, full: bool) -> None:
    """Run the testbed with a one-line status; print its tables."""
    from softcot.config import load_testbed_config
    from softcot.testbed import run_testbed

    config = load_testbed_config(full=full)
    with err.status("testbed") as status:
        # a terminal gets one updating status line, a log file every message
        progress = status.update if err.is_terminal else err.print
        try:
            with stop_on_signals():  # SIGTERM too; the trainer saves on its own
                report = run_testbed(config, out_dir, progress=progress)
        except KeyboardInterrupt:
            err.print(f"stopped; run the same command again to continue ({out_dir})")
            raise typer.Exit(INTERRUPTED_EXIT) from None
    out.print(report.tables())
    err.print(f"report: {out_dir / 'testbed.json'}; every policy's cells: {out_dir / 'matrix'}")


if __name__ == "__main__":
    app()
