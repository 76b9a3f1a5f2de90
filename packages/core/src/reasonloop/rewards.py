"""Reward functions that score completions against reference answers.

Every reward takes parallel sequences of prompts, completions and references and returns one
`RewardResult` per item, so rewards can be swapped or combined in training and evaluation.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from math_verify import LatexExtractionConfig, parse, verify

__all__ = [
    "ExactMatchReward",
    "FormatReward",
    "MathAnswerReward",
    "Reward",
    "RewardResult",
    "extract_final_answer",
]


@dataclass(frozen=True)
class RewardResult:
    """A score plus whatever explains it (extracted answer, reason), kept for logging."""

    score: float
    details: dict[str, object] = field(default_factory=dict)


class Reward(Protocol):
    """Scores a batch; item i of every input belongs to item i of the output."""

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]: ...


def _check_lengths(
    prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
) -> None:
    # A silent zip() would drop items and misalign scores with samples.
    if not len(prompts) == len(completions) == len(references):
        raise ValueError(
            "prompts, completions and references must have the same length, got "
            f"{len(prompts)}, {len(completions)} and {len(references)}"
        )


# --------------------------------------------------------------------------- answer extraction

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_GSM8K = re.compile(r"^[ \t]*####[ \t]*(.+)$", re.MULTILINE)
# The rest of the line is captured in a lookahead so that a later marker on the same line
# ("Final Answer: The final answer is 5") is still found.
_ANSWER_LINE = re.compile(
    r"answer\**(?:[ \t]*:|[ \t]+is\b:?)\**[ \t]*(?=(.+)$)", re.IGNORECASE | re.MULTILINE
)
_SENTENCE_END = re.compile(r"\.\s")
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def _tidy(answer: str) -> str:
    """Drop markdown bold, one pair of math delimiters and trailing periods/whitespace."""
    answer = answer.strip().strip("*").strip().rstrip(".").rstrip()
    for left, right in _MATH_DELIMITERS:
        inner = answer[len(left) : -len(right)]
        if answer.startswith(left) and answer.endswith(right) and inner and left not in inner:
            answer = inner.strip()
            break
    return answer.rstrip(".").rstrip()


def _box_contents(text: str) -> list[str]:
    """Contents of every brace-balanced `\\boxed{}`/`\\fbox{}`, in order of their start."""
    contents = []
    for match in _BOX_OPEN.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            if text[i] == "\\":  # skip escaped characters such as \{ and \}
                i += 1
            elif text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        if depth == 0:  # an unclosed box (truncated generation) is not an answer
            contents.append(text[match.end() : i - 1])
    return contents


def extract_final_answer(text: str) -> str | None:
    """Return the final answer stated in `text`, or None if it states none.

    Looks for, in this order, and takes the LAST non-empty occurrence of the first kind found:

    1. `\\boxed{...}` or `\\fbox{...}` with balanced braces (MATH / most chat models);
       an unclosed box, as in a truncated generation, does not count,
    2. a `#### answer` line (GSM8K),
    3. the text after `Answer:` or `answer is`, up to the end of its line or sentence.

    The answer is tidied: surrounding markdown bold and one pair of math delimiters
    (`$..$`, `\\(..\\)`, ...) are removed, as are trailing periods and whitespace.
    A lone currency `$` (as in `$1,234`) is kept.
    """
    candidates = (
        _box_contents(text),
        [m.group(1) for m in _GSM8K.finditer(text)],
        # Cut trailing prose: "is $5$. I hope it is correct." -> "$5$" (but keep "3.5").
        [_SENTENCE_END.split(m.group(1), maxsplit=1)[0] for m in _ANSWER_LINE.finditer(text)],
    )
    for found in candidates:
        tidied = [answer for answer in map(_tidy, found) if answer]
        if tidied:
            return tidied[-1]
    return None


# --------------------------------------------------------------------------- math equivalence

# math-verify's own timeouts use signal.alarm() and raise outside the main thread, so they are
# disabled and `_compare_with_deadline` bounds the whole item instead. That makes math-verify's
# "timeout is disabled" warning noise.
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(
        lambda record: not record.getMessage().startswith("Timeout is disabled")
    )

_UNICODE_MINUS = str.maketrans({"\u2212": "-"})
# GSM8K-style answers: optional currency, a plain number, then unit words ("$18", "18 eggs").
# Single letters and "pi" are left alone: "5 x" or "2 pi" is maths, not a unit.
_NUMBER_WITH_UNITS = re.compile(
    r"(?:\\?\$|[€£¥])?\s*(-?\d[\d,]*(?:\.\d+)?)\s*(?:(?!pi\b)[A-Za-z]{2,}[A-Za-z .\-/]*)?"
)
_LATEX_ONLY = (LatexExtractionConfig(),)


def _parse_answer(answer: str) -> list:
    """Parse one bare answer (not a whole solution) with math-verify."""
    answer = answer.translate(_UNICODE_MINUS).strip()
    if match := _NUMBER_WITH_UNITS.fullmatch(answer):
        answer = match.group(1)
    # Boxing makes math-verify read the whole string as one LaTeX expression, which handles
    # \dfrac, \left(, thousands separators and \$ alike.
    return parse(
        f"\\boxed{{{answer}}}",
        extraction_config=_LATEX_ONLY,
        parsing_timeout=None,  # type: ignore[arg-type]
        raise_on_error=True,
    )


def _compare(answer: str, reference: str) -> str:
    """Return "match", "mismatch" or why the two could not be compared."""
    gold = _parse_answer(reference)
    if not gold:
        return "unparseable reference"
    pred = _parse_answer(answer)
    if not pred:
        return "unparseable answer"
    # verify tries every gold/pred pair; raise_on_error=False (the default) makes a pair sympy
    # cannot compare count as unequal instead of aborting the remaining pairs.
    return "match" if verify(gold, pred, timeout_seconds=None) else "mismatch"


class _DeadlineExceeded(BaseException):
    """Raised by the SIGALRM handler when an item runs out of time.

    A BaseException so that `except Exception` blocks in math-verify and sympy cannot swallow
    it and keep computing.
    """


def _compare_with_deadline(answer: str, reference: str, timeout_s: float) -> str:
    """`_compare` interrupted by SIGALRM after `timeout_s`; main thread only.

    CPython runs signal handlers even inside long big-integer operations, so this also stops
    inputs like 9^{9^{9^9}}. A timer the caller armed (e.g. pytest-timeout) is restored.
    """

    def on_alarm(signum, frame):
        raise _DeadlineExceeded

    start = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return _compare(answer, reference)
    except _DeadlineExceeded:
        return f"timeout after {timeout_s:g}s"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(
            signal.SIGALRM,
            signal.SIG_DFL if previous_handler is None else previous_handler,
        )
        if previous_delay:
            remaining = max(previous_delay - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, previous_interval)


class _ComparisonWorker:
    """A child process that runs `_compare_with_deadline` for callers outside the main thread.

    Outside the main thread SIGALRM is unavailable, and a runaway comparison can be neither
    interrupted nor abandoned in a helper thread: a long C-level step (a huge integer power)
    holds the GIL and freezes every thread. In a child process the alarm works again, and the
    child is killed if it still overruns. It is started on first use and shared (serially).
    """

    STARTUP_TIMEOUT_S = 60.0  # importing sympy on a busy machine can take a while
    GRACE_S = 2.0  # allowed on top of the item's time limit, for the round trip

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def compare(self, answer: str, reference: str, timeout_s: float) -> str:
        request = json.dumps([answer, reference, timeout_s]) + "\n"
        with self._lock:
            try:
                proc = self._started()
                assert proc.stdin is not None
                proc.stdin.write(request)
                proc.stdin.flush()
                return json.loads(self._read_line(proc, timeout_s + self.GRACE_S))
            except TimeoutError:
                self.close()
                return f"timeout after {timeout_s:g}s (worker process killed)"
            except (OSError, ValueError) as exc:  # the child died or replied garbage
                self.close()
                return f"error: comparison worker failed: {exc!r}"

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.communicate()
            self._proc = None

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from reasonloop.rewards import _serve; _serve()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            if self._read_line(self._proc, self.STARTUP_TIMEOUT_S) != '"ready"':
                raise ConnectionError("comparison worker did not report ready")
        return self._proc

    @staticmethod
    def _read_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
        # The child writes exactly one line per request, so nothing waits unseen in the
        # reader's buffer when select() looks at the pipe.
        assert proc.stdout is not None
        if not select.select([proc.stdout], [], [], timeout_s)[0]:
            raise TimeoutError
        line = proc.stdout.readline()
        if not line:
            raise ConnectionError(f"comparison worker exited with code {proc.wait()}")
        return line.rstrip("\n")


def _serve() -> None:
    """Main loop of the `_ComparisonWorker` child: one JSON request per line in, one reply out."""
    replies, sys.stdout = sys.stdout, sys.stderr  # stray prints must not corrupt the protocol
    print(json.dumps("ready"), file=replies, flush=True)
    for line in sys.stdin:
        answer, reference, timeout_s = json.loads(line)
        reason = _compare_with_deadline(answer, reference, timeout_s)
        print(json.dumps(reason), file=replies, flush=True)


_WORKER = _ComparisonWorker()
atexit.register(_WORKER.close)


# --------------------------------------------------------------------------- rewards


def _final_answer_or_text(text: str) -> str:
    return extract_final_answer(text) or text.strip()


class MathAnswerReward:
    """1.0 when the completion's final answer is mathematically equal to the reference.

    The answer is taken with `extract_final_answer`; no final answer scores 0, so a stray
    number in the reasoning is never rewarded. References may be bare answers or full
    solutions (e.g. GSM8K's `... #### 72`). Equality is decided by math-verify, so 1/2, 0.5
    and \\frac{1}{2} agree while 0.5 and 0.05 do not.

    Each item gets at most `timeout_s` seconds; one that runs out or fails scores 0 with the
    reason in `details`. From the main thread the check runs in-process under SIGALRM; from any
    other thread it runs in a shared child process (see `_ComparisonWorker`). POSIX only.
    """

    def __init__(self, timeout_s: float = 5.0):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]:
        _check_lengths(prompts, completions, references)
        return [self._score(c, r) for c, r in zip(completions, references, strict=True)]

    def _score(self, completion: str, reference: str) -> RewardResult:
        answer = extract_final_answer(completion)
        reference = _final_answer_or_text(reference)
        if answer is None:
            reason = "no final answer"
        elif threading.current_thread() is threading.main_thread():
            reason = _compare_with_deadline(answer, reference, self.timeout_s)
        else:
            reason = _WORKER.compare(answer, reference, self.timeout_s)
        score = 1.0 if reason == "match" else 0.0
        return RewardResult(score, {"extracted": answer, "reference": reference, "reason": reason})


class ExactMatchReward:
    """1.0 when the final answer (or, without one, the whole completion) equals the reference.

    For answers math-verify cannot judge (names, multiple-choice letters, free text).
    With `normalize`, case and runs of whitespace are ignored.
    """

    def __init__(self, normalize: bool = True):
        self.normalize = normalize

    def _canonical(self, text: str) -> str:
        return " ".join(text.split()).casefold() if self.normalize else text

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]:
        _check_lengths(prompts, completions, references)
        results = []
        for completion, reference in zip(completions, references, strict=True):
            answer = _final_answer_or_text(completion)
            matched = self._canonical(answer) == self._canonical(_final_answer_or_text(reference))
            results.append(
                RewardResult(
                    float(matched),
                    {"extracted": answer, "reason": "match" if matched else "mismatch"},
                )
            )
        return results


class FormatReward:
    """1.0 when the completion matches `pattern` (compiled with re.DOTALL), else 0.0.

    Rewards following an output format (e.g. `<think>...</think>` then an answer) separately
    from correctness. `mode="search"` accepts a match anywhere, `"fullmatch"` needs the whole
    completion to match.
    """

    def __init__(self, pattern: str, mode: Literal["search", "fullmatch"] = "search"):
        if mode not in ("search", "fullmatch"):
            raise ValueError(f"mode must be 'search' or 'fullmatch', got {mode!r}")
        self.pattern = re.compile(pattern, re.DOTALL)
        self.mode = mode

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]
    ) -> list[RewardResult]:
        _check_lengths(prompts, completions, references)
        match = self.pattern.search if self.mode == "search" else self.pattern.fullmatch
        return [
            RewardResult(1.0, {"reason": "match"})
            if match(completion)
            else RewardResult(0.0, {"reason": f"no {self.mode} of {self.pattern.pattern!r}"})
            for completion in completions
        ]
