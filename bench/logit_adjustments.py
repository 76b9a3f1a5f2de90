"""What the OpenAI-compatible extras cost per decoded token: penalties, logit_bias, top-k
log-probs, against plain decoding of the same batch.

Every figure is measured in this run, on this machine; the ratios are what to read.

    OMP_NUM_THREADS=1 uv run python bench/logit_adjustments.py [--model tiny-llama] [--batch 8]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from rich.console import Console
from rich.table import Table

from reasonloop.limits import MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS
from reasonloop.models.loading import load_model
from reasonloop.sampling import SamplingParams
from reasonloop.sampling.decoder import Sampler

PROMPT = "Question: A farmer has 17 sheep and buys 5 more. How many sheep now? Think step by step."


def configurations(tokens: int, vocab: int) -> dict[str, SamplingParams]:
    base = SamplingParams(max_new_tokens=tokens, temperature=1.0, seed=0, ignore_eos=True)
    bias = tuple((token, 0.5) for token in range(min(MAX_LOGIT_BIAS, vocab)))

    def with_(**fields: object) -> SamplingParams:
        return replace(base, **fields)

    return {
        "plain": base,
        "frequency + presence": with_(frequency_penalty=0.5, presence_penalty=0.5),
        "repetition": with_(repetition_penalty=1.2),
        f"logit_bias x{len(bias)}": with_(logit_bias=bias),
        f"top_logprobs {MAX_TOP_LOGPROBS}": with_(logprobs=True, top_logprobs=MAX_TOP_LOGPROBS),
        "all of them": with_(
            frequency_penalty=0.5,
            presence_penalty=0.5,
            repetition_penalty=1.2,
            logit_bias=bias,
            logprobs=True,
            top_logprobs=MAX_TOP_LOGPROBS,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-llama")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    loaded = load_model(args.model, device="cpu")
    sampler = Sampler(loaded.model, loaded.tokenizer)
    configs = configurations(args.tokens, loaded.model.config.vocab_size)
    best = dict.fromkeys(configs, 0.0)
    for _ in range(args.repeats):  # interleaved, so machine noise hits every one alike
        for name, params in configs.items():
            start = time.perf_counter()
            sampler.generate([PROMPT] * args.batch, params)
            rate = args.batch * args.tokens / (time.perf_counter() - start)
            best[name] = max(best[name], rate)
    table = Table(
        title=f"{args.model}, batch {args.batch}, {args.tokens} tokens, best of "
        f"{args.repeats}, {torch.get_num_threads()} threads"
    )
    table.add_column("configuration")
    table.add_column("tokens/s", justify="right")
    table.add_column("vs plain", justify="right")
    for name, rate in best.items():
        table.add_row(name, f"{rate:.0f}", f"{rate / best['plain']:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
