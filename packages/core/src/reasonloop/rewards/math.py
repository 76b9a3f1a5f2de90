"""Mathematical equality of answers (math-verify), under a per-item time limit."""

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

from math_verify import LatexExtractionConfig, parse, verify

from reasonloop.rewards.base import RewardResult, check_lengths
from reasonloop.rewards.extraction import extract_final_answer, final_answer_or_text

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
                [sys.executable, "-c", "from reasonloop.rewards.math import _serve; _serve()"],
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
        check_lengths(prompts, completions, references)
        return [self._score(c, r) for c, r in zip(completions, references, strict=True)]

    def _score(self, completion: str, reference: str) -> RewardResult:
        answer = extract_final_answer(completion)
        reference = final_answer_or_text(reference)
        if answer is None:
            reason = "no final answer"
        elif threading.current_thread() is threading.main_thread():
            reason = _compare_with_deadline(answer, reference, self.timeout_s)
        else:
            reason = _WORKER.compare(answer, reference, self.timeout_s)
        score = 1.0 if reason == "match" else 0.0
        return RewardResult(score, {"extracted": answer, "reference": reference, "reason": reason})
