"""Sampler throughput: hard, soft and fuzzy thinking vs `transformers` `generate`.

Every figure is measured in this run, on this machine; the ratios are what to read.

    uv run python bench/sampling.py [--models tiny-llama,smollm2-135m] [--batches 1,8,32]
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console
from rich.table import Table

from reasonloop.models.loading import load_model
from reasonloop.sampling import SamplingParams, ThinkingConfig
from reasonloop.sampling.decoder import Sampler

PROMPT = "Question: A farmer has 17 sheep and buys 5 more. How many sheep now? Think step by step."


def hf_generate(model, tokenizer, batch: int, new_tokens: int) -> float:
    ids = tokenizer([PROMPT] * batch, return_tensors="pt").to(model.device)
    start = time.perf_counter()
    model.generate(
        **ids,
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        pad_token_id=tokenizer.pad_token_id,
    )
    return batch * new_tokens / (time.perf_counter() - start)


def ours(sampler: Sampler, batch: int, new_tokens: int, mode: str | None) -> float:
    if mode is None:
        params = SamplingParams(max_new_tokens=new_tokens, temperature=1.0, ignore_eos=True)
    else:
        # A whole budget of thinking steps, then the (forced) marker and one answer token.
        thinking = ThinkingConfig(mode=mode, max_tokens=new_tokens, end_marker="\u2603\u2603")
        params = SamplingParams(max_new_tokens=1, temperature=1.0, thinking=thinking)
    start = time.perf_counter()
    out = sampler.generate([PROMPT] * batch, params)
    elapsed = time.perf_counter() - start
    steps = 0
    for (c,) in out:
        thought = c.thinking
        steps += len(c.token_ids) + (
            len(thought.tokens) + len(thought.forced_ids) if thought else 0
        )
    return steps / elapsed


def measure(loaded, sampler: Sampler, batch: int, new_tokens: int, repeats: int) -> dict:
    """Best tokens/s of each configuration; repeats are interleaved so that machine noise
    hits every configuration alike."""
    modes = (None, "hard", "soft", "fuzzy")
    best = dict.fromkeys(["hf", *map(str, modes)], 0.0)
    for _ in range(repeats):
        best["hf"] = max(best["hf"], hf_generate(loaded.model, loaded.tokenizer, batch, new_tokens))
        for mode in modes:
            best[str(mode)] = max(best[str(mode)], ours(sampler, batch, new_tokens, mode))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny-llama,smollm2-135m")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="best of N, interleaved")
    args = parser.parse_args()
    console = Console(width=140)
    torch.manual_seed(0)
    table = Table(
        title=f"tokens/s ({args.new_tokens} new tokens, {torch.get_num_threads()} threads)"
    )
    for column in (
        "model",
        "batch",
        "HF generate",
        "ours plain",
        "ratio",
        "hard CoT",
        "soft CoT",
        "fuzzy CoT",
        "soft/hard time",
    ):
        table.add_column(column, justify="right")
    for spec in args.models.split(","):
        loaded = load_model(spec)
        sampler = Sampler(loaded.model, loaded.tokenizer)
        ours(sampler, 2, 4, None)  # warm-up
        hf_generate(loaded.model, loaded.tokenizer, 2, 4)
        for batch in (int(b) for b in args.batches.split(",")):
            best = measure(loaded, sampler, batch, args.new_tokens, args.repeats)
            hf, plain = best["hf"], best["None"]
            hard, soft, fuzzy = best["hard"], best["soft"], best["fuzzy"]
            table.add_row(
                spec,
                str(batch),
                f"{hf:.1f}",
                f"{plain:.1f}",
                f"{plain / hf:.2f}x",
                f"{hard:.1f}",
                f"{soft:.1f}",
                f"{fuzzy:.1f}",
                f"{hard / soft:.2f}",
            )
            console.print(f"{spec} batch {batch}: HF {hf:.1f} tok/s, ours {plain:.1f} tok/s")
    console.print(table)


if __name__ == "__main__":
    main()
