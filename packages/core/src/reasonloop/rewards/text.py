"""Rewards on the text itself: exact answers and output formats."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from reasonloop.rewards.base import RewardResult, check_lengths
from reasonloop.rewards.extraction import (
    answer_too_long,
    collapse_whitespace,
    final_answer_or_text,
)


class ExactMatchReward:
    """1.0 when the final answer (or, without one, the whole completion) equals the reference.

    For answers math-verify cannot judge (names, multiple-choice letters, free text).
    With `normalize`, case and runs of whitespace are ignored. `details["outcome"]` is
    "match", "mismatch", or "too long" (a completion over `MAX_ANSWER_CHARS`, refused: 0).
    """

    def __init__(self, normalize: bool = True):
        self.normalize = normalize

    def _canonical(self, text: str) -> str:
        return collapse_whitespace(text).casefold() if self.normalize else text

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]:
        check_lengths(prompts, completions, references)
        return [self._score(c, r) for c, r in zip(completions, references, strict=True)]

    def _score(self, completion: str, reference: str) -> RewardResult:
        if too_long := answer_too_long(completion):
            return RewardResult(0.0, {"extracted": None, "outcome": "too long", "reason": too_long})
        answer = final_answer_or_text(completion)
        matched = self._canonical(answer) == self._canonical(final_answer_or_text(reference))
        outcome = "match" if matched else "mismatch"
        return RewardResult(
            float(matched), {"extracted": answer, "outcome": outcome, "reason": outcome}
        )


class FormatReward:
    """1.0 when the completion matches `pattern` (compiled with re.DOTALL), else 0.0.

    Rewards following an output format (e.g. `<think>...</think>` then an answer) separately
    from correctness. `mode="search"` accepts a match anywhere, `"fullmatch"` needs the whole
    completion to match. The pattern is the configuration's, so its cost is too (`.*` twice
    can be quadratic); completions over `MAX_ANSWER_CHARS` are not searched but refused
    ("too long", 0) so that cost stays bounded.
    """

    def __init__(self, pattern: str, mode: Literal["search", "fullmatch"] = "search"):
        if mode not in ("search", "fullmatch"):
            raise ValueError(f"mode must be 'search' or 'fullmatch', got {mode!r}")
        self.pattern = re.compile(pattern, re.DOTALL)
        self.mode = mode

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]:
        check_lengths(prompts, completions, references)
        return [self._score(completion) for completion in completions]

    def _score(self, completion: str) -> RewardResult:
        if too_long := answer_too_long(completion):
            return RewardResult(0.0, {"outcome": "too long", "reason": too_long})
        match = self.pattern.search if self.mode == "search" else self.pattern.fullmatch
        if match(completion):
            return RewardResult(1.0, {"outcome": "match", "reason": "match"})
        reason = f"no {self.mode} of {self.pattern.pattern!r}"
        return RewardResult(0.0, {"outcome": "mismatch", "reason": reason})
