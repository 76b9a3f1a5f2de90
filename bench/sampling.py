"""Sampler throughput: hard, soft and fuzzy thinking vs `transformers` `generate`.

Every figure is measured in this run, on this machine; the ratios are what to read. The load
average is printed before and after. `--profile` prints instead where a decoding step's time
goes: the model's forward (timed by hooks on the model), the rest of our step (building the
inputs and the mask, choosing the tokens, the soft p·E product) and the rest of HF's.

    uv run python bench/sampling.py [--models tiny-llama,smollm2-135m] [--batches 1,8,32]
    uv run python bench/sampling.py --profile --models smollm2-135m --batches 32
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from rich.console import Console
from rich.table import Table

from reasonloop.models.loading import load_model
from reasonloop.sampling import SamplingParams, ThinkingConfig, decoder
from reasonloop.sampling.decoder import RunningBatch, Sampler

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


@contextmanager
def timed(seconds: defaultdict[str, float], model) -> Iterator[None]:
    """Add to `seconds` the time spent in the model's forward (and count its calls), in our
    steps' `forward` and `decide`, and in the soft p·E product (instrumentation of this
    process only)."""
    started: list[float] = []
    hooks = [
        model.register_forward_pre_hook(lambda *_: started.append(time.perf_counter())),
        model.register_forward_pre_hook(
            lambda *_: seconds.__setitem__("calls", seconds["calls"] + 1)
        ),
        model.register_forward_hook(
            lambda *_: seconds.__setitem__(
                "model", seconds["model"] + time.perf_counter() - started.pop()
            )
        ),
    ]

    def wrap(owner, name: str, key: str) -> None:
        original = getattr(owner, name)

        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[key] += time.perf_counter() - start

        setattr(owner, name, timed_call)
        patched.append((owner, name, original))

    patched: list[tuple[object, str, object]] = []
    wrap(RunningBatch, "forward", "forward")
    wrap(RunningBatch, "decide", "decide")
    wrap(decoder, "mixture_mean", "p·E")
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
        for owner, name, original in patched:
            setattr(owner, name, original)


def profile(loaded, sampler: Sampler, batch: int, new_tokens: int, repeats: int) -> None:
    """Per-step milliseconds (a step: one model call, the prefill counted as one) of HF
    `generate`, ours plain and ours soft, best of `repeats` by total time."""
    console = Console(width=140)
    table = Table(title=f"{loaded.spec}, batch {batch}: ms per decoding step")
    for column in (
        "run",
        "step",
        "model forward",
        "rest",
        "of which: inputs, mask, cache",
        "choose",
        "p·E",
    ):
        table.add_column(column, justify="right")
    for name in ("HF generate", "ours plain", "ours soft"):
        best: dict[str, float] | None = None
        for _ in range(repeats):
            seconds: defaultdict[str, float] = defaultdict(float)
            with timed(seconds, loaded.model):
                start = time.perf_counter()
                if name == "HF generate":
                    hf_generate(loaded.model, loaded.tokenizer, batch, new_tokens)
                else:
                    ours(sampler, batch, new_tokens, None if name == "ours plain" else "soft")
                seconds["step"] = time.perf_counter() - start
            if best is None or seconds["step"] < best["step"]:
                best = dict(seconds)
        assert best is not None
        steps = best.pop("calls")  # model calls: the prefill, then one per step
        ms = {key: 1000 * value / steps for key, value in best.items()}
        ours_run = name != "HF generate"
        table.add_row(
            name,
            f"{ms['step']:.1f}",
            f"{ms['model']:.1f} ({ms['model'] / ms['step']:.0%})",
            f"{ms['step'] - ms['model']:.1f}",
            f"{ms['step'] - ms['model'] - ms['decide']:.1f}" if ours_run else "",
            f"{ms['decide'] - ms.get('p·E', 0):.1f}" if ours_run else "",
            f"{ms.get('p·E', 0):.1f}" if ours_run else "",
        )
    console.print(table)


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
    parser.add_argument("--profile", action="store_true", help="where a step's time goes")
    args = parser.parse_args()
    console = Console(width=140)
    console.print(f"load average before: {os.getloadavg()}")
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
            if args.profile:
                profile(loaded, sampler, batch, args.new_tokens, args.repeats)
                continue
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
    if not args.profile:
        console.print(table)
    console.print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
