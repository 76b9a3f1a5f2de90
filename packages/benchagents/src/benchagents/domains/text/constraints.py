"""Constrained text generation: the constraint schema and one code checker per constraint.

Counting rules, applied to the whole answer as written (JSON syntax and bullet markers
included, surrounding whitespace ignored):
- a word is a run of letters/digits, with inner apostrophes ("don't" is one word);
- keywords match whole words, case-insensitively;
- a sentence is a non-empty stretch of text between ".", "!" or "?" (a final stretch without
  punctuation counts too);
- a bullet item is a line starting with "-", "*" or "•" followed by a space.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveInt, field_validator

# Every check reads the answer in linear time (answers come from any Grade client): no pattern
# has two repetitions that can match the same characters, and counts are taken without
# building lists of matches.
WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)*")
_SENTENCE_END = re.compile(r"[.!?]+")
_BULLET = re.compile(r"^[^\S\n]*[-*•][^\S\n]+\S", re.MULTILINE)  # [^\S\n]: blank, not newline
_TITLE = re.compile(r"<<([^<>\n]*)>>")  # a title also needs a letter or digit (`_title`)
_ALNUM = re.compile(r"[A-Za-z0-9]")
_FENCE = "```"


class KeywordFrequency(BaseModel):
    model_config = ConfigDict(extra="forbid")

    word: str
    count: PositiveInt
    relation: Literal["exactly", "at least"]

    @field_validator("word")
    @classmethod
    def _single_word(cls, word: str) -> str:
        return _check_word(word)


class TextConstraints(BaseModel):
    """The active constraints of a text instance (absent = inactive)."""

    model_config = ConfigDict(extra="forbid")

    include_keywords: list[str] | None = None
    exclude_words: list[str] | None = None
    min_words: PositiveInt | None = None
    max_words: PositiveInt | None = None
    num_sentences: PositiveInt | None = None
    keyword_frequency: KeywordFrequency | None = None
    bullet_list: PositiveInt | None = None
    all_lowercase: bool | None = None
    end_phrase: str | None = None
    json_keys: list[str] | None = None
    title: bool | None = None

    @field_validator("include_keywords", "exclude_words")
    @classmethod
    def _words(cls, words: list[str] | None) -> list[str] | None:
        if words is not None:
            if not words:
                raise ValueError("a word list must not be empty")
            for w in words:
                _check_word(w)
        return words

    @field_validator("json_keys")
    @classmethod
    def _keys(cls, keys: list[str] | None) -> list[str] | None:
        if keys is not None and (not keys or len(set(keys)) != len(keys) or "" in keys):
            raise ValueError(f"json_keys must be distinct non-empty strings, got {keys}")
        return keys

    @field_validator("end_phrase")
    @classmethod
    def _phrase(cls, phrase: str | None) -> str | None:
        if phrase is not None and (not phrase.strip() or phrase != phrase.strip()):
            raise ValueError(f"end_phrase must be non-empty without outer spaces: {phrase!r}")
        return phrase

    def names(self) -> list[str]:
        """Active constraint names, in canonical (field) order."""
        return [n for n in type(self).model_fields if getattr(self, n) not in (None, False)]


def _check_word(word: str) -> str:
    if not WORD.fullmatch(word):
        raise ValueError(f"{word!r} is not a single word")
    return word


def words(text: str) -> list[str]:
    return WORD.findall(text)


def count_words(text: str) -> int:
    return sum(1 for _ in WORD.finditer(text))


def count_word(text: str, word: str) -> int:
    pattern = rf"(?<![A-Za-z0-9']){re.escape(word)}(?![A-Za-z0-9'])"
    return sum(1 for _ in re.finditer(pattern, text, re.I))


def count_sentences(text: str) -> int:
    """Stretches between sentence ends that hold a word, read in place (no copies)."""
    count, start = 0, 0
    for end in _SENTENCE_END.finditer(text):
        count += WORD.search(text, start, end.start()) is not None
        start = end.end()
    return count + (WORD.search(text, start) is not None)


def count_bullets(text: str) -> int:
    return sum(1 for _ in _BULLET.finditer(text))


def parse_json_object(text: str) -> dict | None:
    """The answer as a JSON object (a ```json fence around it is fine), else None."""
    text = text.strip()
    if len(text) >= 2 * len(_FENCE) and text.startswith(_FENCE) and text.endswith(_FENCE):
        text = text[len(_FENCE) : -len(_FENCE)].removeprefix("json")
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: nesting too deep
        return None
    return value if isinstance(value, dict) else None


Result = tuple[bool, str]


def _include(text: str, c: TextConstraints) -> Result:
    missing = [w for w in c.include_keywords or () if not count_word(text, w)]
    return not missing, f"missing: {', '.join(missing)}" if missing else "all keywords present"


def _exclude(text: str, c: TextConstraints) -> Result:
    found = [w for w in c.exclude_words or () if count_word(text, w)]
    return not found, f"uses: {', '.join(found)}" if found else "no excluded word"


def _min_words(text: str, c: TextConstraints) -> Result:
    n = count_words(text)
    return n >= (c.min_words or 0), f"{n} words, at least {c.min_words} required"


def _max_words(text: str, c: TextConstraints) -> Result:
    n = count_words(text)
    return n <= (c.max_words or 0), f"{n} words, at most {c.max_words} allowed"


def _sentences(text: str, c: TextConstraints) -> Result:
    n = count_sentences(text)
    return n == c.num_sentences, f"{n} sentences, {c.num_sentences} required"


def _frequency(text: str, c: TextConstraints) -> Result:
    f = c.keyword_frequency
    assert f is not None
    n = count_word(text, f.word)
    passed = n == f.count if f.relation == "exactly" else n >= f.count
    return passed, f"{f.word!r} appears {n} times, {f.relation} {f.count} required"


def _bullets(text: str, c: TextConstraints) -> Result:
    n = count_bullets(text)
    return n == c.bullet_list, f"{n} bullet items, {c.bullet_list} required"


def _lowercase(text: str, c: TextConstraints) -> Result:
    capitals = sorted({ch for ch in text if ch.isupper()})
    return not capitals, f"capital letters: {''.join(capitals)}" if capitals else "all lowercase"


def _end_phrase(text: str, c: TextConstraints) -> Result:
    phrase = c.end_phrase or ""
    text = text.rstrip()
    passed = text.endswith(phrase)
    return passed, f"ends with {phrase!r}" if passed else f"ends with ...{text[-40:]!r}"


def _json_keys(text: str, c: TextConstraints) -> Result:
    value = parse_json_object(text)
    if value is None:
        return False, "the answer is not a JSON object"
    missing = [k for k in c.json_keys or () if k not in value]
    return not missing, f"missing keys: {', '.join(missing)}" if missing else "all keys present"


def _title(text: str, c: TextConstraints) -> Result:
    m = next((m for m in _TITLE.finditer(text) if _ALNUM.search(m.group(1))), None)
    return m is not None, f"title {m.group(0)}" if m else "no <<title>>"


CHECKERS: dict[str, Callable[[str, TextConstraints], Result]] = {
    "include_keywords": _include,
    "exclude_words": _exclude,
    "min_words": _min_words,
    "max_words": _max_words,
    "num_sentences": _sentences,
    "keyword_frequency": _frequency,
    "bullet_list": _bullets,
    "all_lowercase": _lowercase,
    "end_phrase": _end_phrase,
    "json_keys": _json_keys,
    "title": _title,
}


def evaluate(text: str, constraints: TextConstraints) -> list[tuple[str, bool, str]]:
    """(name, passed, detail) for every active constraint, in canonical order."""
    return [(name, *CHECKERS[name](text, constraints)) for name in constraints.names()]
