"""`reasonloop` command line: list models, generate with any thinking mode.

Heavy imports (torch, transformers) happen inside the commands so that `--help` is instant.
Expected failures (a bad spec, a bad parameter, a missing file) print one readable line and
exit with status 2 (reasonloop.cli_options: the grammar and the error style every reasonloop
CLI shares).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.markup import escape
from rich.table import Table

# the grammar every reasonloop CLI shares (its consoles, `error:` line, --version, options)
from reasonloop.cli_options import (
    BENCHMARK_PORTS,
    MODEL_HELP,
    ClientAuthOption,
    DeviceOption,
    DtypeOption,
    HostOption,
    LimitOption,
    PortOption,
    SeedOption,
    ServerAuthOption,
    TlsCertOption,
    TlsKeyOption,
    add_version_option,
    err,
    fail,
    needs_extra,
    out,
    remote_option,
    server_options,
)
from reasonloop.extras import MissingExtraError

if TYPE_CHECKING:
    from reasonloop.eval_matrix import MatrixBenchmark, MatrixModel
    from reasonloop.sampling import Prompt, SamplingParams
    from reasonloop.sampling.decoder import Completion, Sampler
    from reasonloop.sampling.params import ThinkingMode

app = typer.Typer(
    name="reasonloop",
    help="reasonloop core: models, sampling with hard/soft/fuzzy thinking, serving, evaluation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
add_version_option(app, "reasonloop-core")

DEFAULT_PROMPT = "A shop sells pens at 3 dollars each. How much do 7 pens cost? Answer briefly."


@app.command()
def models() -> None:
    """List the built-in model names and what is in the conversion cache."""
    from reasonloop.cache import cache_root
    from reasonloop.models import BUILTIN_MODELS

    table = Table(title="built-in models")
    table.add_column("name")
    table.add_column("what it is")
    for name, description in BUILTIN_MODELS.items():
        table.add_row(name, description)
    out.print(table)
    converted = cache_root() / "converted"
    entries = sorted(p for p in converted.glob("*") if p.is_dir()) if converted.is_dir() else []
    out.print(f"cache: {cache_root()}")
    for entry in entries:
        size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        out.print(f"  {entry.name}  ({size / 2**20:.0f} MiB)")
    if not entries:
        out.print("  (empty: smollm2-135m is converted on first use, ~30 s)")
    out.print("Also accepted: a local HF directory, a .gguf file, or a hub id (online).")


@app.command()
def generate(
    prompt: Annotated[str, typer.Option(help="The user message (or raw text with --raw).")] = (
        DEFAULT_PROMPT
    ),
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "smollm2-135m",
    raw: Annotated[bool, typer.Option(help="Send the prompt as is, without the chat template.")] = (
        False
    ),
    thinking: Annotated[
        str | None, typer.Option(help="Chain-of-thought mode first: hard, soft or fuzzy.")
    ] = None,
    thinking_tokens: Annotated[int, typer.Option(help="Budget of the chain of thought.")] = 128,
    thinking_temperature: Annotated[
        float | None, typer.Option(help="CoT temperature (default 1 / 0.5 / 1e-4).")
    ] = None,
    noise_scale: Annotated[float, typer.Option(help="Soft/fuzzy noise, x embedding RMS.")] = 0.33,
    end_marker: Annotated[str, typer.Option(help="Text that ends the chain of thought.")] = (
        "</think>"
    ),
    max_new_tokens: Annotated[int, typer.Option(help="Answer length limit.")] = 128,
    temperature: Annotated[float, typer.Option(help="0 is greedy.")] = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    min_p: float = 0.0,
    n: Annotated[int, typer.Option(help="Samples of the prompt.")] = 1,
    seed: SeedOption = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop string (repeatable).")] = None,
    json_schema: Annotated[
        Path | None, typer.Option(help="Constrain the answer to this JSON schema file.")
    ] = None,
    regex: Annotated[str | None, typer.Option(help="Constrain the answer to a regex.")] = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
) -> None:
    """Generate an answer, streamed to the terminal (thinking shown dimmed)."""
    with needs_extra("models"):
        from transformers.utils import logging as hf_logging

    from reasonloop.models import ModelSpecError
    from reasonloop.models.loading import load_model
    from reasonloop.sampling import Grammar, SamplingParams, ThinkingConfig
    from reasonloop.sampling.decoder import Sampler

    hf_logging.disable_progress_bar()

    try:
        grammar = None
        if json_schema is not None and regex is not None:
            raise ValueError("give --json-schema or --regex, not both")
        if json_schema is not None:
            text = json_schema.read_text()
            json.loads(text)
            grammar = Grammar("json_schema", text)
        elif regex is not None:
            grammar = Grammar("regex", regex)
        think = None
        if thinking is not None:
            think = ThinkingConfig(
                mode=cast("ThinkingMode", thinking),  # ThinkingConfig refuses another
                temperature=thinking_temperature,
                noise_scale=noise_scale,
                max_tokens=thinking_tokens,
                end_marker=end_marker,
            )
        params = SamplingParams(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            min_p=min_p,
            n=n,
            seed=seed,
            stop=tuple(stop or ()),
            grammar=grammar,
            thinking=think,
        )
        with err.status(f"loading {model}"):
            loaded = load_model(model, device=device, dtype=dtype)
        sampler = Sampler(loaded.model, loaded.tokenizer)
        chat = not raw and loaded.metadata["has_chat_template"]
        request = [{"role": "user", "content": prompt}] if chat else prompt
        _stream(sampler, request, params)
    except (ModelSpecError, MissingExtraError, ValueError, OSError) as error:
        raise fail(str(error)) from None


def _print_completion_footer(completion: Completion) -> None:
    extra = ""
    if completion.thinking is not None:
        extra = f", {len(completion.thinking.tokens)} {completion.thinking.mode} thinking steps"
    summary = f"{completion.finish_reason}, {len(completion.token_ids)} tokens{extra}"
    err.print(f"\n[dim]({summary})[/dim]")


ANSWER_RULE = "--- answer"  # the line between the thinking and the answer (piped output too)


def _stream(sampler: Sampler, request: Prompt, params: SamplingParams) -> None:
    """One sample is streamed as it is decoded; several are printed one after the other.
    With a thinking mode, the thinking (dim in a terminal) and the answer are parted by the
    line ANSWER_RULE, so output piped to a file or a program still shows where it ends."""
    if params.n > 1:
        for completion in sampler.generate([request], params)[0]:
            out.print(f"[bold]--- sample {completion.sample_index}[/bold]")
            if completion.thinking is not None:
                out.print(completion.thinking.text, style="dim", markup=False, highlight=False)
                out.print(ANSWER_RULE, style="bold", highlight=False)
            out.print(completion.text, markup=False, highlight=False)
            _print_completion_footer(completion)
        return
    answering = params.thinking is None
    for event in sampler.stream([request], params):
        if event.thinking_delta:
            out.print(event.thinking_delta, style="dim", end="", markup=False, highlight=False)
        if not answering and (event.text_delta or event.completion is not None):
            out.print(f"\n{ANSWER_RULE}", style="bold", highlight=False)
            answering = True
        if event.text_delta:
            out.print(event.text_delta, end="", markup=False, highlight=False)
        if event.completion is not None:
            _print_completion_footer(event.completion)
    sys.stdout.flush()


@app.command()
def serve(
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "smollm2-135m",
    host: HostOption = "127.0.0.1",
    port: PortOption = 50051,
    openai_port: Annotated[
        int | None, typer.Option(help="Also serve the OpenAI-compatible HTTP API here.")
    ] = None,
    auth_token: ServerAuthOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    max_new_tokens: Annotated[int, typer.Option(help="Largest max_new_tokens accepted.")] = 2048,
    max_n: Annotated[int, typer.Option(help="Largest n accepted.")] = 64,
    max_batch_rows: Annotated[int, typer.Option(help="Rows decoded together.")] = 256,
    max_batch_tokens: Annotated[
        int,
        typer.Option(help="KV-cache positions of a batch: rows x (prompt + decoding steps)."),
    ] = 32768,
    max_prefill_tokens: Annotated[
        int,
        typer.Option(help="Prompt positions prefilled per step; a longer prompt takes chunks."),
    ] = 4096,
    prefix_cache_tokens: Annotated[
        int, typer.Option(help="Prompt positions whose keys/values are kept for reuse (LRU).")
    ] = 4096,
    max_score_items: Annotated[int, typer.Option(help="Items of one Score call.")] = 256,
    max_score_tokens: Annotated[
        int, typer.Option(help="Positions of one Score chunk (its logits: x vocabulary).")
    ] = 8192,
    max_queue: Annotated[int, typer.Option(help="Requests waiting before refusals.")] = 256,
    grammar_compile_s: Annotated[
        float, typer.Option(help="Seconds a request's grammar may take to compile.")
    ] = 10.0,
    model_name: Annotated[
        str | None, typer.Option(help="The name clients are told (default: --model).")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(help="OpenAI API: refuse unknown fields with a 400 (default: log, ignore)."),
    ] = False,
) -> None:
    """Serve a model over gRPC (Inference service), batching concurrent requests."""
    with needs_extra("models"):
        from transformers.utils import logging as hf_logging

    from reasonloop.models import ModelSpecError
    from reasonloop.models.loading import load_model
    from reasonloop.rpc.engine import EngineLimits, InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference

    hf_logging.disable_progress_bar()
    try:
        options = server_options(host, port, auth_token, tls_cert, tls_key)
        limits = EngineLimits(
            max_new_tokens=max_new_tokens,
            max_n=max_n,
            max_batch_rows=max_batch_rows,
            max_batch_tokens=max_batch_tokens,
            max_prefill_tokens=max_prefill_tokens,
            prefix_cache_tokens=prefix_cache_tokens,
            max_score_items=max_score_items,
            max_score_tokens=max_score_tokens,
            max_queue=max_queue,
            grammar_compile_s=grammar_compile_s,
        )
        with err.status(f"loading {model}"):
            loaded = load_model(model, device=device, dtype=dtype)
        if model_name is not None:
            loaded = replace(loaded, spec=model_name)
        engine = InferenceEngine(loaded, limits)
        http = None
        if openai_port is not None:  # with --tls-cert it speaks HTTPS, with the same pair
            from reasonloop.rpc.openai_http import start_openai_server

            http = start_openai_server(
                engine,
                host=host,
                port=openai_port,
                auth_token=auth_token,
                tls_cert=tls_cert,
                tls_key=tls_key,
                strict=strict,
            )
        try:
            server = serve_inference(engine, options)
        except BaseException:
            if http is not None:
                http.stop()
            raise
    except (ModelSpecError, MissingExtraError, ValueError, OSError) as error:
        raise fail(str(error)) from None
    scheme = "TLS" if tls_cert else "plaintext"
    err.print(f"serving {model} on {host}:{server.port} (gRPC, {scheme}); Ctrl-C stops")
    if http is not None:
        err.print(f"OpenAI-compatible API on {http.url}")
    server.wait()
    if http is not None:
        http.stop()


@app.command("serve-benchmark")
def serve_benchmark_command(
    tasks: Annotated[
        Path | None,
        typer.Option(help="JSONL of {id, prompt|question, answer}; default: built-in arithmetic."),
    ] = None,
    grader: Annotated[str, typer.Option(help="math (math-verify) or exact.")] = "math",
    host: HostOption = "127.0.0.1",
    port: PortOption = BENCHMARK_PORTS["reasonloop"],
    auth_token: ServerAuthOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
) -> None:
    """Serve a benchmark (tasks with reference answers) over gRPC (Benchmark service)."""
    from reasonloop.benchmarks import local_benchmark
    from reasonloop.rpc import serve_benchmark

    try:
        benchmark = local_benchmark(tasks, grader)
        options = server_options(host, port, auth_token, tls_cert, tls_key)
        server = serve_benchmark(benchmark, options=options)
    except (MissingExtraError, ValueError, OSError) as error:
        raise fail(str(error)) from None
    err.print(
        f"serving benchmark {benchmark.name} ({len(benchmark.tasks())} tasks) "
        f"on {host}:{server.port}; Ctrl-C stops"
    )
    server.wait()


@app.command()
def up(
    config: Annotated[
        Path, typer.Argument(help=escape("TOML/YAML file with a [[server]] per server."))
    ],
    logs: Annotated[Path, typer.Option(help="Each server's output goes to LOGS/NAME.log.")] = Path(
        ".reasonloop-up"
    ),
) -> None:
    """Start the servers a file lists, health-checked; Ctrl-C or SIGTERM stops them all.

    If one server ends on its own, the others are stopped too and the exit status is 1.
    """
    from reasonloop.interrupt import stop_on_signals
    from reasonloop.launcher import Launcher, LaunchError, load_launch_config, log_tail

    try:
        launcher = Launcher(load_launch_config(config), logs_dir=logs)
    except ValueError as error:
        raise fail(str(error)) from None
    with stop_on_signals():  # SIGTERM as Ctrl-C
        try:
            with err.status(f"starting {len(launcher.config.server)} servers"):
                launcher.start()
            table = Table(title=f"{config.name}: up")
            for column in ("name", "address", "pid", "log"):
                table.add_column(column)
            for name, address in launcher.addresses.items():
                table.add_row(name, address, str(launcher.pids[name]), str(launcher.logs[name]))
            out.print(table)
            err.print("all healthy; Ctrl-C stops them all")
            ended = launcher.wait()
        except KeyboardInterrupt:
            ended = None
        except LaunchError as error:
            raise fail(str(error)) from None  # start() has stopped everything
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping is not to be interrupted
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            with err.status("stopping"):
                launcher.stop()
    if ended is not None:
        err.print(f"[red]error:[/red] {ended}", highlight=False, soft_wrap=True)
        for line in log_tail(ended.log):
            err.print(f"  {line}", style="dim", markup=False, highlight=False)
        raise typer.Exit(code=1)
    err.print("stopped")


@app.command("eval")
def eval_command(
    model: Annotated[
        list[str] | None,
        remote_option(
            "--model",
            "A model spec (run in-process) or grpc://HOST:PORT[,HOST:PORT...]; repeat it "
            "for a matrix. Default: smollm2-135m.",
        ),
    ] = None,
    benchmark: Annotated[
        list[str] | None,
        remote_option(
            "--benchmark",
            "grpc://HOST:PORT, a tasks .jsonl file, or `arithmetic` (built in); repeat it "
            "for a matrix. Default: arithmetic.",
        ),
    ] = None,
    matrix: Annotated[
        bool, typer.Option(help="Matrix report (table, JSON, PNG) even for one pair.")
    ] = False,
    samples: Annotated[int, typer.Option(help="Answers sampled per task.")] = 8,
    k: Annotated[str, typer.Option(help="Comma-separated k of pass@k.")] = "1,8",
    limit: LimitOption = None,
    temperature: float = 0.7,
    max_new_tokens: int = 256,
    thinking: Annotated[
        str | None, typer.Option(help="Chain-of-thought mode first: hard, soft or fuzzy.")
    ] = None,
    seed: SeedOption = 0,
    grader: Annotated[str, typer.Option(help="For a .jsonl benchmark: math or exact.")] = "math",
    auth_token: ClientAuthOption = None,
    device: DeviceOption = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the JSON report here; a matrix takes a .json file or a directory "
            "(matrix.json) and puts its PNG heatmap next to it.",
        ),
    ] = None,
) -> None:
    """Evaluate models on benchmarks: pass@k with 95% CI, as a table and a JSON report.

    Several --model or --benchmark (or --matrix) evaluate every model x benchmark pair; each
    model is loaded or connected once, each benchmark's tasks listed once.
    """
    import grpc

    from reasonloop.eval_matrix import open_matrix
    from reasonloop.models import ModelSpecError
    from reasonloop.sampling import SamplingParams, ThinkingConfig

    models = model or ["smollm2-135m"]
    benchmarks = benchmark or ["arithmetic"]
    with ExitStack() as resources:
        try:
            ks = [int(x) for x in k.split(",") if x.strip()]
            params = SamplingParams(
                temperature=temperature,
                max_new_tokens=max_new_tokens,
                seed=seed,
                # ThinkingConfig refuses another mode (a FieldError naming thinking.mode)
                thinking=ThinkingConfig(mode=cast("ThinkingMode", thinking)) if thinking else None,
            )
            rows, columns = open_matrix(
                models,
                benchmarks,
                grader=grader,
                auth_token=auth_token,
                device=device,
                resources=resources,
                loading=err.status,
            )
            as_matrix = matrix or len(models) > 1 or len(benchmarks) > 1
            _eval_report(rows, columns, samples, ks, params, limit, out_path, as_matrix)
        except grpc.RpcError as error:
            raise fail(f"{error.code().name}: {error.details()}") from None
        except (ModelSpecError, MissingExtraError, ValueError, OSError) as error:
            raise fail(str(error)) from None


def _eval_report(
    models: list[MatrixModel],
    benchmarks: list[MatrixBenchmark],
    samples: int,
    ks: list[int],
    params: SamplingParams,
    limit: int | None,
    out_path: Path | None,
    as_matrix: bool,
) -> None:
    """Every model on every benchmark under one progress bar; then the matrix table, JSON
    report and pass@1 heatmap, or for one pair its metric x (mean, CI) table and EvalReport."""
    from rich.progress import Progress

    from reasonloop.eval_matrix import evaluate_matrix, matrix_tasks

    started = time.perf_counter()
    with Progress(console=err, transient=True) as progress:
        bar = progress.add_task("matrix", total=matrix_tasks(benchmarks, limit) * len(models))

        def advance(model: str, benchmark: str, done: int) -> None:
            progress.update(bar, advance=done, description=f"{model} on {benchmark}")

        report = evaluate_matrix(
            models, benchmarks, samples=samples, ks=ks, params=params, limit=limit,
            on_progress=advance,
        )  # fmt: skip
    out.print(report.table() if as_matrix else report.reports[0].table())
    err.print(f"{samples} samples per task, {time.perf_counter() - started:.1f} s")
    if out_path is not None and as_matrix:
        json_path, png_path = report.write(out_path)
        err.print(f"report: {json_path}, heatmap: {png_path}")
    elif out_path is not None:
        report.reports[0].write(out_path)
        err.print(f"report: {out_path}")


if __name__ == "__main__":
    app()
