"""Finding the final answer a completion states, in time linear in its length.

Completions come from models and from any client of a `Grade` call, so every scanner here
reads the text a bounded number of times and keeps O(1) candidates: boxes are matched with one
pass over the backslashes and braces (a stack of open braces), and answer markers are tried
from the last one backwards, each looking only up to its own line or sentence end. No regular
expression has nested or ambiguous repetition. Callers refuse texts longer than
`MAX_ANSWER_CHARS` (see `answer_too_long`) so that what one answer costs is bounded too.
"""

from __future__ import annotations

import re
from array import array

# The longest answer graded: a whole completion of the Inference server's longest generation.
# The Benchmark server refuses longer ones (INVALID_ARGUMENT), in-process graders grade them as
# "too long"; every check of an answer this long takes milliseconds.
MAX_ANSWER_CHARS = 65_536

# One token of LaTeX that matters for boxes: a box opening, an escaped character (`\{`, `\\`,
# `\x`: skipped whole, so an escaped brace never counts), or a brace.
_BOX_TOKEN = re.compile(r"\\(?:(?:boxed|fbox)\s*(\{)|.)|([{}])", re.DOTALL)
_GSM8K = re.compile(r"^[ \t]*####[ \t]*", re.MULTILINE)
_ANSWER_MARKER = re.compile(r"answer\**(?:[ \t]*:|[ \t]+is\b:?)\**[ \t]*", re.IGNORECASE)
# where an "Answer:" candidate stops: the end of its sentence or of its line
_ANSWER_END = re.compile(r"\.\s|\n")
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_WHITESPACE = re.compile(r"\s+")


def answer_too_long(text: str, limit: int = MAX_ANSWER_CHARS) -> str | None:
    """Why `text` is refused for grading (longer than `limit` characters), or None."""
    if len(text) <= limit:
        return None
    return f"answer of {len(text)} characters is over the limit of {limit}"


def collapse_whitespace(text: str) -> str:
    """`text` with each run of whitespace made one space, stripped (one pass, one copy)."""
    return _WHITESPACE.sub(" ", text).strip()


def _tidy(answer: str) -> str:
    """Drop markdown bold, one pair of math delimiters and trailing periods/whitespace."""
    answer = answer.strip().strip("*").strip().rstrip(".").rstrip()
    for left, right in _MATH_DELIMITERS:
        inner = answer[len(left) : -len(right)]
        if answer.startswith(left) and answer.endswith(right) and inner and left not in inner:
            answer = inner.strip()
            break
    return answer.rstrip(".").rstrip()


def _box_spans(text: str) -> array:
    r"""(start, end) of the contents of every `\boxed{`/`\fbox{`, flattened, in the order the
    boxes open; end is -1 for a box never closed (a truncated generation)."""
    spans = array("q")
    open_braces = array("q")  # per open brace: its box's index in `spans`, or -1 if plain
    for token in _BOX_TOKEN.finditer(text):
        if token.group(1) is not None:
            open_braces.append(len(spans))
            spans.extend((token.end(), -1))
        elif token.group(2) == "{":
            open_braces.append(-1)
        elif token.group(2) == "}" and open_braces:  # a "}" with nothing open is ignored
            box = open_braces.pop()
            if box >= 0:
                spans[box + 1] = token.start()
    return spans


def extract_boxed(text: str) -> str | None:
    r"""The last non-empty `\boxed{...}` or `\fbox{...}` content (tidied), or None.

    "Last" is by where the box starts, so `\boxed{\boxed{5}}` gives 5. An unclosed box
    does not count.
    """
    spans = _box_spans(text)
    for i in range(len(spans) - 2, -1, -2):
        # a box whose tidied content is empty holds no other box: these slices are disjoint
        if spans[i + 1] >= 0 and (answer := _tidy(text[spans[i] : spans[i + 1]])):
            return answer
    return None


def _last_gsm8k(text: str) -> str | None:
    """The last non-empty `#### answer` line: lines are disjoint, so each is read once."""
    found = None
    for marker in _GSM8K.finditer(text):
        line_end = text.find("\n", marker.end())
        if answer := _tidy(text[marker.end() : line_end if line_end >= 0 else len(text)]):
            found = answer
    return found


def _last_answer_line(text: str) -> str | None:
    """The last non-empty text after `Answer:` / `answer is`, up to its sentence or line end.

    Markers on one line overlap ("answer: answer: ..."), so they are tried from the last one
    backwards: a candidate that tidies to nothing spans no other marker, so the ones tried in
    vain are disjoint and the search is linear; only the ends of the markers are kept.
    """
    ends = array("q", (marker.end() for marker in _ANSWER_MARKER.finditer(text)))
    for start in reversed(ends):
        stop = _ANSWER_END.search(text, start)
        # Cut trailing prose: "is $5$. I hope it is correct." -> "$5$" (but keep "3.5").
        if answer := _tidy(text[start : stop.start() if stop else len(text)]):
            return answer
    return None


def extract_final_answer(text: str) -> str | None:
    r"""Return the final answer stated in `text`, or None if it states none.

    Looks for, in this order, and takes the LAST non-empty occurrence of the first kind found:

    1. `\boxed{...}` or `\fbox{...}` with balanced braces (MATH / most chat models);
       an unclosed box, as in a truncated generation, does not count,
    2. a `#### answer` line (GSM8K),
    3. the text after `Answer:` or `answer is`, up to the end of its line or sentence.

    The answer is tidied: surrounding markdown bold and one pair of math delimiters
    (`$..$`, `\(..\)`, ...) are removed, as are trailing periods and whitespace.
    A lone currency `$` (as in `$1,234`) is kept. Linear time in `len(text)`.
    """
    for find in (extract_boxed, _last_gsm8k, _last_answer_line):
        if (answer := find(text)) is not None:
            return answer
    return None


def final_answer_or_text(text: str) -> str:
    """The stated final answer, or the whole stripped text when it states none."""
    return extract_final_answer(text) or text.strip()
