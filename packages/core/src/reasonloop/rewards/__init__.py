"""Rewards: score completions against references (math answers, exact match, format)."""

from reasonloop.rewards.base import Reward, RewardResult
from reasonloop.rewards.extraction import extract_final_answer
from reasonloop.rewards.math import MathAnswerReward
from reasonloop.rewards.text import ExactMatchReward, FormatReward

__all__ = [
    "ExactMatchReward",
    "FormatReward",
    "MathAnswerReward",
    "Reward",
    "RewardResult",
    "extract_final_answer",
]
