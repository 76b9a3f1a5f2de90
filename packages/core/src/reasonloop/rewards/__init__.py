"""Rewards: score completions against references (math, exact match, format, remote grade)."""

from reasonloop.rewards.base import Reward, RewardResult
from reasonloop.rewards.extraction import extract_final_answer
from reasonloop.rewards.math import MathAnswerReward
from reasonloop.rewards.remote import BenchmarkReward
from reasonloop.rewards.text import ExactMatchReward, FormatReward

__all__ = [
    "BenchmarkReward",
    "ExactMatchReward",
    "FormatReward",
    "MathAnswerReward",
    "Reward",
    "RewardResult",
    "extract_final_answer",
]
