"""Mathematical equality of two bare answers with math-verify: what a math reward worker runs.

`MathAnswerReward` runs `compare` in `reasonloop.sandbox.WorkerPool` workers, which import this
module before they report ready. Importing it loads sympy (seconds) and then makes one
comparison, so that math-verify's own first-call set-up (its LaTeX grammar, sympy caches) is
also done before the worker is ready, never inside an item's time limit. math-verify's own
timeouts use signal.alarm() and are disabled: the pool's limit bounds the whole item.
"""

from __future__ import annotations

import logging
import re

from reasonloop.extras import requires

with requires("math"):
    from math_verify import LatexExtractionConfig, parse, verify

# Timeouts are the pool's job, so math-verify's "timeout is disabled" warning is noise.
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(
        lambda record: not record.getMessage().startswith("Timeout is disabled")
    )

_UNICODE_MINUS = str.maketrans({"\u2212": "-"})
# GSM8K-style answers: optional currency, a plain number, then unit words ("$18", "18 eggs").
# Single letters and "pi" are left alone: "5 x" or "2 pi" is maths, not a unit. The unit is
# two letters then any of letters, spaces, ".", "-", "/": no two repetitions can share a
# character, so a failed fullmatch costs linear time.
_NUMBER_WITH_UNITS = re.compile(
    r"(?:\\?\$|[€£¥])?\s*(-?\d[\d,]*(?:\.\d+)?)\s*(?:(?!pi\b)[A-Za-z]{2}[A-Za-z .\-/]*)?"
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
        parsing_timeout=0,  # 0 (like None) turns math-verify's signal.alarm() timeout off
        raise_on_error=True,
    )


def compare(pair: tuple[str, str]) -> str:
    """(answer, reference) -> "match", "mismatch", "unparseable answer" or "unparseable
    reference". Unbounded in time: run it under a limit."""
    answer, reference = pair
    gold = _parse_answer(reference)
    if not gold:
        return "unparseable reference"
    pred = _parse_answer(answer)
    if not pred:
        return "unparseable answer"
    # verify tries every gold/pred pair; raise_on_error=False (the default) makes a pair sympy
    # cannot compare count as unequal instead of aborting the remaining pairs.
    return "match" if verify(gold, pred, timeout_seconds=None) else "mismatch"


compare(("\\dfrac{1}{2}", "0.5"))  # warm up (see the module docstring)
