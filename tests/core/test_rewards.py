"""reasonloop.rewards: answer extraction, math equivalence, exact match, format."""

import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from reasonloop.rewards import (
    ExactMatchReward,
    FormatReward,
    MathAnswerReward,
    Reward,
    RewardResult,
    extract_final_answer,
)
from reasonloop.rewards.extraction import MAX_ANSWER_CHARS
from reasonloop.rewards.math import MAX_MATH_CHARS

# Exponent towers: sympy evaluates them with huge integer powers that run for minutes.
PATHOLOGICAL = r"The answer is \boxed{9^{9^{9^{9}}}}"


def score_one(reward: Reward, completion: str, reference: str) -> RewardResult:
    [result] = reward(["prompt"], [completion], [reference])
    return result


@pytest.fixture(scope="module")
def math_reward() -> Iterator[MathAnswerReward]:
    reward = MathAnswerReward(timeout_s=5)
    yield reward
    reward.close()


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"first \boxed{1}, finally \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces do not unbalance the box
        (r"\boxed{\frac{a}{b^{2}}}", r"\frac{a}{b^{2}}"),  # nested braces
        (r"\fbox{7}", "7"),
        (r"\boxed{5} then a truncated \boxed{\frac{1}{", "5"),
        (r"\boxed{\boxed{5}}", "5"),
        ("#### 72", "72"),
        ("step\n#### 1\nmore\n#### 1,234.\n", "1,234"),
        ("The answer is $42$.", "42"),
        ("**Answer:** **17**", "17"),
        ("Answer: 3.5", "3.5"),
        ("Answer: $1,234.", "$1,234"),  # a lone currency sign is kept
        (r"Answer: \(x+1\)", "x+1"),
        ("Answer: 1\nthen: answer is 2\n", "2"),
        (
            r"Final Answer: The final answer is $\frac{3}{4}$. I hope it is correct.",
            r"\frac{3}{4}",
        ),
    ],
)
def test_extract_final_answer(text: str, expected: str) -> None:
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A box beats a later "####" line, which beats a later "Answer:" line.
        ("\\boxed{1}\n#### 2\nAnswer: 3", "1"),
        ("#### 2\nAnswer: 3", "2"),
        ("Answer: 3\n#### 2", "2"),
        ("#### 2\n\\boxed{1}", "1"),
        ("\\boxed{}\n#### 2", "2"),  # an empty box is no answer
    ],
)
def test_extraction_order(text: str, expected: str) -> None:
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize(
    "text", ["", "The result is 42", "my answer isn't ready", r"\boxed{", r"\boxed{}"]
)
def test_extract_final_answer_none(text: str) -> None:
    assert extract_final_answer(text) is None


# --------------------------------------------------------------------------- MathAnswerReward


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("1/2", "0.5"),
        (r"\frac{1}{2}", "0.5"),
        (r"\dfrac{1}{2}", "1/2"),
        (r"\tfrac12", "0.5"),
        (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt3}{2}"),
        (r"\left(1, 2\right)", "(1,2)"),
        ("1,000", "1000"),
        ("1,000,000", "1000000"),
        ("$1,234", "1234"),
        (r"\$1,234", "1234"),
        ("\u22123", "-3"),
        ("-3", "\u22123"),
        ("18 dollars", "18"),
        ("$18.00", "18"),
        ("18 eggs", "18"),
        (r"18 \text{ dollars}", "18"),
        ("x^2 + 1", "1 + x^2"),
        ("1/3", "0.333333"),
    ],
)
def test_math_equivalent(math_reward: MathAnswerReward, answer: str, reference: str) -> None:
    result = score_one(
        math_reward, rf"Reasoning... so the result is \boxed{{{answer}}}.", reference
    )
    assert result.score == 1.0, result.details
    assert result.details["reason"] == "match"
    assert result.details["extracted"] == answer


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("12", "21"),
        ("0.5", "0.05"),
        ("-3", "3"),
        ("1/2", "2"),
        ("1,000", "100"),
        ("1/3", "0.33"),
        ("3", "3.0001"),
    ],
)
def test_math_not_equivalent(math_reward: MathAnswerReward, answer: str, reference: str) -> None:
    result = score_one(math_reward, rf"\boxed{{{answer}}}", reference)
    assert result.score == 0.0
    assert result.details["reason"] == "mismatch"


@pytest.mark.parametrize(
    "completion",
    [
        "Natalia sold 48/2 = 24 clips in May.\n#### 72",
        "So she sold 72 clips altogether.\nAnswer: 72 clips.",
        "The answer is $72$.",
    ],
)
def test_math_answer_formats_and_full_reference(
    math_reward: MathAnswerReward, completion: str
) -> None:
    reference = "In May she sold 48/2 = <<48/2=24>>24 clips.\n#### 72"  # a GSM8K solution
    result = score_one(math_reward, completion, reference)
    assert result.score == 1.0, result.details
    assert result.details["reference"] == "72"


def test_math_without_final_answer_scores_zero(math_reward: MathAnswerReward) -> None:
    # 72 appears, but never as the stated final answer: no reward for stray numbers.
    result = score_one(math_reward, "48 + 24 = 72", "72")
    assert result == RewardResult(
        0.0,
        {"extracted": None, "reference": "72", "outcome": "no answer", "reason": "no final answer"},
    )


def test_math_unparseable_answer(math_reward: MathAnswerReward) -> None:
    result = score_one(math_reward, r"\boxed{\frac{1}{}}", "1")
    assert result.score == 0.0
    assert result.details["outcome"] in ("unparseable", "mismatch"), result.details


@pytest.mark.parametrize(
    ("completion", "reference", "reason"),
    [
        ("x" * MAX_ANSWER_CHARS + r"\boxed{1}", "1", f"over the limit of {MAX_ANSWER_CHARS}"),
        (r"\boxed{1}", "1" * (MAX_ANSWER_CHARS + 1), "reference: answer of"),
        (rf"\boxed{{{'1+' * MAX_MATH_CHARS}1}}", "1", "answer: answer of 2001 characters"),
        (r"\boxed{1}", "#### " + "1" * (MAX_MATH_CHARS + 1), "reference: answer of 1001"),
    ],
    ids=["completion", "reference", "answer for math-verify", "reference for math-verify"],
)
def test_math_too_long_is_refused_with_its_reason(
    completion: str, reference: str, reason: str
) -> None:
    reward = MathAnswerReward(timeout_s=0.5)
    result = score_one(reward, completion, reference)
    assert result.score == 0.0
    assert result.details["outcome"] == "too long"
    assert reason in str(result.details["reason"])
    assert reward._pool is None  # refused before any comparison: no worker was started


def test_math_timeout_is_its_own_outcome_and_retried() -> None:
    reward = MathAnswerReward(timeout_s=0.5)
    score_one(reward, r"\boxed{1}", "1")  # the workers' start is not what this test times
    start = time.monotonic()
    results = reward(["p", "p"], [PATHOLOGICAL, r"\boxed{2}"], ["1", "2"])
    elapsed = time.monotonic() - start
    assert elapsed < 20.0  # the tower alone would run for minutes
    assert elapsed >= 1.0  # two tries of at least 0.5 s each
    assert math.isnan(results[0].score)  # not judged: never mistaken for a wrong answer
    assert results[0].details["outcome"] == "timeout"
    assert results[0].details["reason"] == "timeout: over 0.5 s, twice"
    assert results[1].score == 1.0  # the next item is unaffected
    reward.close()


def test_math_leaves_the_callers_alarm_alone() -> None:
    import signal

    # Stand in for e.g. pytest-timeout, whose timer must keep running.
    fired = []
    previous_handler = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    previous_timer = signal.setitimer(signal.ITIMER_REAL, 60.0)
    try:
        reward = MathAnswerReward(timeout_s=0.5)
        assert math.isnan(score_one(reward, PATHOLOGICAL, "1").score)
        reward.close()
        remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous_handler)
        signal.setitimer(signal.ITIMER_REAL, *previous_timer)
    assert 0.0 < remaining < 60.0
    assert not fired


def run_in_thread(fn):
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive()
    return out[0]


def test_math_in_non_main_thread() -> None:
    reward = MathAnswerReward(timeout_s=0.5)
    results = run_in_thread(
        lambda: reward(
            ["p"] * 4,
            [r"\boxed{\dfrac12}", "#### 1,000", "#### 12", PATHOLOGICAL],
            ["0.5", "1000", "21", "1"],
        )
    )
    assert [r.details["outcome"] for r in results] == ["match", "match", "mismatch", "timeout"]
    reward.close()


@pytest.mark.parametrize("in_thread", [False, True], ids=["main thread", "other thread"])
def test_math_cold_start_under_load_is_not_charged(in_thread: bool) -> None:
    """The first call starts the worker (sympy: ~0.5 s with compiled bytecode, more on a loaded
    machine) with a 0.2 s limit per item (a warm comparison takes milliseconds): the start must
    not be charged to the comparison."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(2 * (os.cpu_count() or 1))
    ]
    try:
        reward = MathAnswerReward(timeout_s=0.2)
        start = time.monotonic()
        completions = [r"\boxed{\dfrac12}", r"\boxed{-3}"]

        def call() -> list[RewardResult]:
            return reward(["p"] * 2, completions, ["0.5", "\u22123"])

        results = run_in_thread(call) if in_thread else call()
        elapsed = time.monotonic() - start
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    reward.close()
    assert elapsed > reward.timeout_s  # the start alone took longer than an item may
    assert [r.details["outcome"] for r in results] == ["match", "match"]
    assert [r.score for r in results] == [1.0, 1.0]


# --------------------------------------------------------------------------- other rewards


def test_exact_match() -> None:
    reward = ExactMatchReward()
    results = reward(
        ["p"] * 4,
        [r"so \boxed{Paris}", "  new   YORK ", "Answer: B", r"\boxed{Paris}"],
        ["paris", "New York", "#### b", "London"],
    )
    assert [r.score for r in results] == [1.0, 1.0, 1.0, 0.0]
    assert results[1].details["extracted"] == "new   YORK"  # no final answer: whole text


def test_exact_match_without_normalization() -> None:
    reward = ExactMatchReward(normalize=False)
    results = reward(["p"] * 2, [r"\boxed{Paris}", r"\boxed{paris}"], ["Paris", "Paris"])
    assert [r.score for r in results] == [1.0, 0.0]


def test_format_reward_modes() -> None:
    pattern = r"<think>.*</think>\s*\\boxed\{.+\}"
    completions = ["<think>a\nb</think>\n\\boxed{1}", "hi <think>x</think> \\boxed{2} bye", "no"]
    search = FormatReward(pattern)(["p"] * 3, completions, [""] * 3)
    full = FormatReward(pattern, mode="fullmatch")(["p"] * 3, completions, [""] * 3)
    assert [r.score for r in search] == [1.0, 1.0, 0.0]  # DOTALL: the think spans lines
    assert [r.score for r in full] == [1.0, 0.0, 0.0]


def test_format_reward_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        FormatReward("x", mode="match")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reward", [MathAnswerReward(), ExactMatchReward(), FormatReward("x")], ids=type
)
def test_length_mismatch(reward: Reward) -> None:
    with pytest.raises(ValueError, match="same length, got 2, 1 and 2"):
        reward(["a", "b"], ["a"], ["a", "b"])
