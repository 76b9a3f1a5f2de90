import threading
import time

import pytest

from reasonloop.rewards import (
    ExactMatchReward,
    FormatReward,
    MathAnswerReward,
    Reward,
    RewardResult,
    extract_final_answer,
)
from reasonloop.rewards import math as math_rewards

# Exponent towers: sympy evaluates them with huge integer powers that run for minutes.
PATHOLOGICAL = r"The answer is \boxed{9^{9^{9^{9}}}}"


def score_one(reward: Reward, completion: str, reference: str) -> RewardResult:
    [result] = reward(["prompt"], [completion], [reference])
    return result


@pytest.fixture(scope="module")
def math_reward() -> MathAnswerReward:
    return MathAnswerReward(timeout_s=5)


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
        0.0, {"extracted": None, "reference": "72", "reason": "no final answer"}
    )


def test_math_unparseable_answer(math_reward: MathAnswerReward) -> None:
    result = score_one(math_reward, r"\boxed{\frac{1}{}}", "1")
    assert result.score == 0.0
    assert result.details["reason"] != "match"


def test_math_timeout_in_main_thread() -> None:
    reward = MathAnswerReward(timeout_s=0.5)
    start = time.monotonic()
    results = reward(["p", "p"], [PATHOLOGICAL, r"\boxed{2}"], ["1", "2"])
    elapsed = time.monotonic() - start
    assert elapsed < 10.0  # the tower alone would run for minutes
    assert results[0].score == 0.0
    assert results[0].details["reason"] == "timeout after 0.5s"
    assert results[1].score == 1.0  # the next item is unaffected


def test_math_timeout_restores_outer_alarm() -> None:
    import signal

    # Stand in for e.g. pytest-timeout, whose own timer is put back afterwards.
    fired = []
    previous_handler = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    previous_timer = signal.setitimer(signal.ITIMER_REAL, 30.0)
    try:
        score_one(MathAnswerReward(timeout_s=0.5), PATHOLOGICAL, "1")
        remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous_handler)
        signal.setitimer(signal.ITIMER_REAL, *previous_timer)
    assert 25.0 < remaining <= 30.0
    assert not fired


def run_in_thread(fn):
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    return out[0]


def test_math_in_non_main_thread() -> None:
    reward = MathAnswerReward(timeout_s=0.5)
    # The first call from a thread starts the worker process (imports sympy: seconds).
    warm = run_in_thread(
        lambda: reward(
            ["p"] * 3, [r"\boxed{\dfrac12}", "#### 1,000", "#### 12"], ["0.5", "1000", "21"]
        )
    )
    assert [r.score for r in warm] == [1.0, 1.0, 0.0]

    start = time.monotonic()
    results = run_in_thread(
        lambda: reward(["p", "p"], [PATHOLOGICAL, r"\boxed{-3}"], ["1", "\u22123"])
    )
    assert time.monotonic() - start < 10.0  # the tower alone would run for minutes
    assert results[0].score == 0.0
    assert results[0].details["reason"] == "timeout after 0.5s"
    assert results[1].score == 1.0


def test_worker_killed_when_it_overruns(monkeypatch: pytest.MonkeyPatch) -> None:
    # Make the parent give up before the child's own alarm fires, as if the child hung.
    monkeypatch.setattr(math_rewards._ComparisonWorker, "GRACE_S", -0.4)
    reward = MathAnswerReward(timeout_s=0.5)
    result = run_in_thread(lambda: score_one(reward, PATHOLOGICAL, "1"))
    assert result.details["reason"] == "timeout after 0.5s (worker process killed)"
    monkeypatch.undo()
    # The next call transparently starts a new worker.
    assert run_in_thread(lambda: score_one(reward, r"\boxed{0.5}", "1/2")).score == 1.0


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
