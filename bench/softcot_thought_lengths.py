"""Chain-of-thought lengths on GSM8K-style problems: where does the thought end?

Samples SmolLM2 with softcot's prompt and end marker (" The answer is") on the 16-problem
GSM8K-format file shipped with softcot, in each thinking mode, and prints the distribution of
thought lengths (decoding steps of the chain of thought), how many thoughts ended by the
marker (vs the budget) and the share of correct answers.

    OMP_NUM_THREADS=1 uv run python bench/softcot_thought_lengths.py [--budget 512] [--n 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

# bench/softcot.py is named like the `softcot` package and a script's folder comes first on
# the import path: move that folder to the end (as bench/softcot.py does).
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import torch

from reasonloop.models.loading import load_model
from reasonloop.sampling import SamplingParams, ThinkingConfig
from reasonloop.sampling.decoder import Sampler
from softcot.benchmark import math_benchmark
from softcot.problems import load_problems
from softcot.prompts import ANSWER_MARKER, ANSWER_STOP, chat_prompt

SAMPLE = (
    Path(__file__).resolve().parents[1] / "packages/softcot/src/softcot/data/gsm8k_sample.jsonl"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--budget", type=int, default=512, help="thinking.max_tokens")
    parser.add_argument("--n", type=int, default=2, help="samples per problem and mode")
    parser.add_argument("--modes", default="hard,soft,fuzzy")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_model(args.model)
    sampler = Sampler(loaded.model, loaded.tokenizer)
    problems = load_problems(str(SAMPLE))
    benchmark = math_benchmark(problems, SAMPLE.stem)
    summary = {}
    for mode in args.modes.split(","):
        params = SamplingParams(
            max_new_tokens=32,
            temperature=1.0,
            n=args.n,
            seed=0,
            stop=ANSWER_STOP,
            include_stop=True,
            thinking=ThinkingConfig(mode=mode, max_tokens=args.budget, end_marker=ANSWER_MARKER),
        )
        groups = sampler.generate([chat_prompt(p) for p in problems], params)
        flat = [(p, c) for p, group in zip(problems, groups, strict=True) for c in group]
        grades = benchmark.grade([(p.id, c.text) for p, c in flat])
        lengths = sorted(len(c.thinking.tokens) for _, c in flat)
        summary[mode] = {
            "lengths": lengths,
            "median": statistics.median(lengths),
            "mean": round(statistics.fmean(lengths), 1),
            "by_marker": sum(c.thinking.ended_by == "marker" for _, c in flat),
            "samples": len(flat),
            "correct": sum(g.passed for g in grades),
            "example": flat[0][1].thinking.text[-160:] + " || " + flat[0][1].text,
        }
        print(mode, json.dumps(summary[mode]), flush=True)


if __name__ == "__main__":
    main()
