"""Rewards: score completions against references (math, exact match, format, remote grade)."""

from typing import TYPE_CHECKING

from reasonloop.rewards.base import Reward, RewardResult
from reasonloop.rewards.extraction import extract_final_answer
from reasonloop.rewards.remote import BenchmarkReward
from reasonloop.rewards.text import ExactMatchReward, FormatReward

if TYPE_CHECKING:
    from reasonloop.rewards.math import MathAnswerReward


def __getattr__(name: str) -> object:
    """`MathAnswerReward` is imported on first use: math-verify pulls in sympy (seconds)."""
    if name == "MathAnswerReward":
        from reasonloop.rewards.math import MathAnswerReward

        return MathAnswerReward
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BenchmarkReward",
    "ExactMatchReward",
    "FormatReward",
    "MathAnswerReward",
    "Reward",
    "RewardResult",
    "extract_final_answer",
]
