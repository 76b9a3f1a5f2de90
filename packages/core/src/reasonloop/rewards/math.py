"""The math answer reward: math-verify equality under a per-item time limit, in worker processes.

A comparison can run away (sympy evaluating 9^{9^{9^9}}) and must be cut, but a loaded machine
must never turn a right answer into 0. So comparisons run in `reasonloop.sandbox.WorkerPool`
workers, which load math-verify and warm it up (`math_compare`) before they report ready:
only the comparison itself is timed, never a worker's start. An item that still runs out of
time is tried once more; if it times out again it is reported as its own outcome, with a NaN
score (not judged), never as a wrong answer. What reaches math-verify is bounded
(`MAX_MATH_CHARS`): its parser is super-linear on long inputs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from reasonloop.extras import check_installed
from reasonloop.rewards.base import RewardResult, check_lengths
from reasonloop.rewards.extraction import (
    answer_too_long,
    extract_final_answer,
    final_answer_or_text,
)
from reasonloop.sandbox import Outcome, WorkerPool
from reasonloop.slots import filled

# The longest answer (and reference) given to math-verify. MATH and GSM8K answers are under a
# hundred characters; nested input of a few hundred characters already takes it seconds.
MAX_MATH_CHARS = 1000
_TARGET = "reasonloop.rewards.math_compare:compare"
_SCORES = {
    "match": 1.0,
    "mismatch": 0.0,
    "no answer": 0.0,
    "too long": 0.0,
    "unparseable": 0.0,
    "error": 0.0,
    "timeout": math.nan,  # not judged
}


class MathAnswerReward:
    r"""1.0 when the completion's final answer is mathematically equal to the reference.

    The answer is taken with `extract_final_answer`; no final answer scores 0, so a stray
    number in the reasoning is never rewarded. References may be bare answers or full
    solutions (e.g. GSM8K's `... #### 72`). Equality is decided by math-verify, so 1/2, 0.5
    and \frac{1}{2} agree while 0.5 and 0.05 do not.

    Every result's `details["outcome"]` is one of: "match" (score 1); "mismatch", "no answer",
    "too long" (a completion over `MAX_ANSWER_CHARS`, or an answer or reference over
    `MAX_MATH_CHARS`), "unparseable", "error" (score 0; `details["reason"]` says more);
    "timeout" (score NaN: the comparison ran over `timeout_s` twice, so it was not judged).
    Comparisons run in `workers` processes started on first use (their start-up, given up to
    `start_timeout_s`, is not charged to any item) and stopped by `close()` or at exit.
    """

    def __init__(
        self, timeout_s: float = 5.0, *, workers: int = 1, start_timeout_s: float = 120.0
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        check_installed("math", "math_verify")  # the workers import it; say so here, not there
        self.timeout_s = timeout_s
        self.workers = workers
        self.start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._pool: WorkerPool | None = None

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]:
        check_lengths(prompts, completions, references)
        results: list[RewardResult | None] = []
        pending: list[tuple[int, tuple[str, str]]] = []  # (index in results, pair to compare)
        for completion, given in zip(completions, references, strict=True):
            answer, reference, refusal = _answer_and_reference(completion, given)
            if refusal is None:
                assert answer is not None and reference is not None
                pending.append((len(results), (answer, reference)))
                results.append(None)
            else:
                results.append(_result(answer, reference, *refusal))
        compared = self._compare([pair for _, pair in pending])
        for (index, (answer, reference)), (outcome, reason) in zip(pending, compared, strict=True):
            results[index] = _result(answer, reference, outcome, reason)
        return filled(results)

    def _compare(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """(outcome, reason) per pair; items that time out are tried once more."""
        if not pairs:
            return []
        with self._lock:
            if self._pool is None:
                self._pool = WorkerPool(
                    _TARGET,
                    self.workers,
                    time_limit_s=self.timeout_s,
                    start_timeout_s=self.start_timeout_s,
                )
            pool = self._pool
        outcomes = pool.map(pairs)
        again = [i for i, o in enumerate(outcomes) if o.kind == "timeout"]
        for i, outcome in zip(again, pool.map([pairs[i] for i in again]), strict=True):
            outcomes[i] = outcome
        return [self._judged(o) for o in outcomes]

    def _judged(self, outcome: Outcome) -> tuple[str, str]:
        if outcome.ok:
            reason: str = outcome.value
            return reason.split()[0] if reason.startswith("unparseable") else reason, reason
        if outcome.kind == "timeout":
            return "timeout", f"timeout: over {self.timeout_s:g} s, twice"
        return "error", f"{outcome.kind}: {outcome.error}"

    def close(self) -> None:
        """Stop the workers (a later call starts new ones)."""
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _result(answer: str | None, reference: str | None, outcome: str, reason: str) -> RewardResult:
    details = {"extracted": answer, "reference": reference, "outcome": outcome, "reason": reason}
    return RewardResult(_SCORES[outcome], details)


def _answer_and_reference(
    completion: str, reference: str
) -> tuple[str | None, str | None, tuple[str, str] | None]:
    """The final answer, the reference's final answer, and (outcome, reason) if either is
    refused before any comparison."""
    if too_long := answer_too_long(completion):
        return None, None, ("too long", too_long)
    if too_long := answer_too_long(reference):
        return None, None, ("too long", f"reference: {too_long}")
    answer, reference = extract_final_answer(completion), final_answer_or_text(reference)
    if answer is None:
        return None, reference, ("no answer", "no final answer")
    for name, text in (("answer", answer), ("reference", reference)):
        if too_long := answer_too_long(text, MAX_MATH_CHARS):
            return answer, reference, ("too long", f"{name}: {too_long} for math-verify")
    return answer, reference, None
