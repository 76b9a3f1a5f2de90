"""Chunked prefill: how long a long prompt joining a running batch stalls its running rows.

Eight rows decode; a prompt of `--prompt-tokens` tokens joins after a few steps. Without a
budget it is prefilled in one pass, and that step is as long as the whole prefill; with
`max_prefill_tokens` it is prefilled a chunk per step, after the running rows' step. Printed
per budget: the running rows' longest step and median step (what a streaming client sees
between two tokens), the steps and the time until the joiner's first token, and whether
the joiner's greedy tokens equal those it gets alone. Budgets are interleaved over the
repeats (best of N by longest step); the load average is printed before and after.

    uv run python bench/chunked_prefill.py [--model smollm2-135m] [--prompt-tokens 1024]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from rich.console import Console
from rich.table import Table

from reasonloop.models.loading import load_model
from reasonloop.sampling import SamplingParams
from reasonloop.sampling.decoder import Joining, RunningBatch, Sampler

RUNNING = SamplingParams(max_new_tokens=4096, temperature=0, ignore_eos=True)
JOINER = SamplingParams(max_new_tokens=8, temperature=0, ignore_eos=True)


def one_pass(sampler: Sampler, long_prompt: list[int], budget: int | None) -> dict:
    """Eight running rows, the long prompt joining at step 3; stops at the joiner's first
    token, then decodes it to its end (untimed) to compare its tokens."""
    batch = RunningBatch(sampler, stream_text=False, max_prefill_tokens=budget)
    batch.add([Joining([sampler.encode(f"running row {i}:")], RUNNING) for i in range(8)])
    steps: list[float] = []
    joined_at = None
    step = 0
    while joined_at is None:
        start = time.perf_counter()
        if step == 3:
            batch.add([Joining([long_prompt], JOINER, owner="long")])
            added = start
        batch.decide()
        batch.forward()
        steps.append(time.perf_counter() - start)
        if step >= 3 and batch.prefilling is None:
            joined_at = step
            wait = time.perf_counter() - added
        step += 1
    tokens: list[int] = []
    while batch.rows_live > 8 or batch.prefilling is not None:
        events, _ = batch.decide()
        tokens += [t for owner, e in events if owner == "long" for t in e.completion.token_ids]
        batch.forward()
    return {
        "longest": max(steps),
        "median": statistics.median(steps),
        "steps": joined_at - 3 + 1,
        "wait": wait,
        "tokens": tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompt-tokens", type=int, default=1024)
    parser.add_argument("--budgets", default="none,512,128", help="max_prefill_tokens values")
    parser.add_argument("--repeats", type=int, default=2, help="best of N, interleaved")
    args = parser.parse_args()
    console = Console(width=140)
    console.print(f"load average before: {os.getloadavg()}, {torch.get_num_threads()} threads")
    loaded = load_model(args.model)
    sampler = Sampler(loaded.model, loaded.tokenizer)
    text = " ".join(f"item {i} is {i * 7 % 13}." for i in range(args.prompt_tokens))
    long_prompt = sampler.encode(text)[: args.prompt_tokens]
    alone = sampler.generate([long_prompt], JOINER)[0][0].token_ids
    budgets = [None if b == "none" else int(b) for b in args.budgets.split(",")]
    best: dict[int | None, dict] = {}
    for _ in range(args.repeats):
        for budget in budgets:
            result = one_pass(sampler, long_prompt, budget)
            if budget not in best or result["longest"] < best[budget]["longest"]:
                best[budget] = result
    table = Table(
        title=f"{args.model}: 8 running rows, a {len(long_prompt)}-token prompt joins "
        f"(best of {args.repeats})"
    )
    for column in (
        "max_prefill_tokens",
        "running rows' longest step",
        "median step",
        "steps to join",
        "joiner's wait",
        "joiner = alone",
    ):
        table.add_column(column, justify="right")
    for budget, result in best.items():
        table.add_row(
            "none (one pass)" if budget is None else str(budget),
            f"{result['longest'] * 1000:.0f} ms",
            f"{result['median'] * 1000:.0f} ms",
            str(result["steps"]),
            f"{result['wait'] * 1000:.0f} ms",
            str(result["tokens"] == alone),
        )
    console.print(table)
    console.print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
