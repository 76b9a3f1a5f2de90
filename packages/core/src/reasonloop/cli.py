"""`reasonloop` command line: list models, generate with any thinking mode.

Heavy imports (torch, transformers) happen inside the commands so that `--help` is instant.
Expected failures (a bad spec, a bad parameter, a missing file) print one readable line and
exit with status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from reasonloop.sampling import Completion, Sampler, SamplingParams
    from reasonloop.sampling.decoder import Prompt

app = typer.Typer(
    name="reasonloop",
    help="reasonloop core: models, sampling with hard/soft/fuzzy thinking.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DEFAULT_PROMPT = "A shop sells pens at 3 dollars each. How much do 7 pens cost? Answer briefly."


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


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
    model: Annotated[str, typer.Option(help="Built-in name, HF dir, .gguf or hub id.")] = (
        "smollm2-135m"
    ),
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
    seed: int | None = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop string (repeatable).")] = None,
    json_schema: Annotated[
        Path | None, typer.Option(help="Constrain the answer to this JSON schema file.")
    ] = None,
    regex: Annotated[str | None, typer.Option(help="Constrain the answer to a regex.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 (default: auto).")] = None,
) -> None:
    """Generate an answer, streamed to the terminal (thinking shown dimmed)."""
    from transformers.utils import logging as hf_logging

    from reasonloop.models import ModelSpecError, load_model
    from reasonloop.sampling import Grammar, Sampler, SamplingParams, ThinkingConfig

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
                mode=thinking,  # type: ignore[arg-type]  # validated by ThinkingConfig
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
            loaded = load_model(model, device=device)
        sampler = Sampler(loaded.model, loaded.tokenizer)
        chat = not raw and loaded.metadata["has_chat_template"]
        request = [{"role": "user", "content": prompt}] if chat else prompt
        _stream(sampler, request, params)
    except (ModelSpecError, ValueError, OSError) as error:
        raise fail(str(error)) from None


def _print_completion_footer(completion: Completion) -> None:
    extra = ""
    if completion.thinking is not None:
        extra = f", {len(completion.thinking.tokens)} {completion.thinking.mode} thinking steps"
    summary = f"{completion.finish_reason}, {len(completion.token_ids)} tokens{extra}"
    err.print(f"\n[dim]({summary})[/dim]")


def _stream(sampler: Sampler, request: Prompt, params: SamplingParams) -> None:
    """One sample is streamed as it is decoded; several are printed one after the other."""
    if params.n > 1:
        for completion in sampler.generate([request], params)[0]:
            out.print(f"[bold]--- sample {completion.sample_index}[/bold]")
            if completion.thinking is not None:
                out.print(completion.thinking.text, style="dim", markup=False, highlight=False)
            out.print(completion.text, markup=False, highlight=False)
            _print_completion_footer(completion)
        return
    answering = False
    for event in sampler.stream([request], params):
        if event.thinking_delta:
            out.print(event.thinking_delta, style="dim", end="", markup=False, highlight=False)
        if event.text_delta:
            if not answering and params.thinking is not None:
                out.print()
            answering = True
            out.print(event.text_delta, end="", markup=False, highlight=False)
        if event.completion is not None:
            _print_completion_footer(event.completion)
    sys.stdout.flush()
