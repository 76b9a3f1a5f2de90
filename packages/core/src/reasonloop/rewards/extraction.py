"""Finding the final answer a completion states."""

from __future__ import annotations

import re

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


def final_answer_or_text(text: str) -> str:
    """The stated final answer, or the whole stripped text when it states none."""
    return extract_final_answer(text) or text.strip()
