"""Rewards: score completions against references (math, exact match, format, remote grade)."""

from reasonloop.rewards.base import Reward, RewardResult
from reasonloop.rewards.extraction import MAX_ANSWER_CHARS, extract_final_answer
from reasonloop.rewards.math import MathAnswerReward  # math-verify loads in its workers only
from reasonloop.rewards.remote import BenchmarkReward
from reasonloop.rewards.text import ExactMatchReward, FormatReward

__all__ = [
    "MAX_ANSWER_CHARS",
    "BenchmarkReward",
    "ExactMatchReward",
    "FormatReward",
    "MathAnswerReward",
    "Reward",
    "RewardResult",
    "extract_final_answer",
]
