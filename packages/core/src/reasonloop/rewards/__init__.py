"""Answer checkers: score completions against reference answers (math, exact match, format).

They share the `Reward` interface (a batch of prompts, completions and reference answers in,
a score per item out). Scoring in reasonloop goes through `reasonloop.benchmarks.Benchmark`;
`reasonloop.benchmarks.ReferenceBenchmark` makes a checker and its references a benchmark.
"""

from reasonloop.rewards.base import Reward, RewardResult
from reasonloop.rewards.extraction import MAX_ANSWER_CHARS, extract_final_answer
from reasonloop.rewards.math import MathAnswerReward  # math-verify loads in its workers only
from reasonloop.rewards.text import ExactMatchReward, FormatReward

__all__ = [
    "MAX_ANSWER_CHARS",
    "ExactMatchReward",
    "FormatReward",
    "MathAnswerReward",
    "Reward",
    "RewardResult",
    "extract_final_answer",
]
