"""A witness text built from the constraints alone: proof that an instance is satisfiable.

The witness is plain filler prose (not about the topic, so a rewritten topic never breaks it)
that places every required word, then adds filler words one at a time until the minimum
length is met. It is checked by the same checkers as a model's answer; the caller treats a
witness that fails, or None (the maximum length was exceeded), as "not shown satisfiable".
"""

from __future__ import annotations

import json
import math

from benchagents.domains.text.constraints import TextConstraints, count_word, words

_FILLER_TEXT = (
    "many people often find that small details matter more than they first expect and "
    "careful notes help them remember each useful idea over time while simple habits make "
    "steady progress feel natural for everyone who keeps trying with patience"
)
FILLER = tuple(_FILLER_TEXT.split())
WORDS_PER_SENTENCE = 8


def build_witness(c: TextConstraints) -> str | None:
    """The shortest text of this construction that reaches `min_words`, or None."""
    required = _required_words(c)
    fillers = _fillers(c)
    if not fillers:
        return None
    minimum = c.min_words or 0
    limit = max(minimum, 1) + len(required) + 50
    for extra in range(limit):
        tokens = required + [fillers[i % len(fillers)] for i in range(extra)]
        text = _render(tokens, fillers, c)
        if text is None:
            continue  # too few tokens for the requested structure yet
        count = len(words(text))
        if c.max_words is not None and count > c.max_words:
            return None
        if count >= minimum:
            return text
    return None


def _required_words(c: TextConstraints) -> list[str]:
    """Each keyword once; the counted word as often as needed beyond the end phrase's own."""
    freq = c.keyword_frequency
    counted = freq.word.lower() if freq else None
    required = [w for w in c.include_keywords or () if w.lower() != counted]
    if freq:
        required += [freq.word] * max(freq.count - count_word(c.end_phrase or "", freq.word), 0)
    return [w.lower() for w in required] if c.all_lowercase else required


def _fillers(c: TextConstraints) -> list[str]:
    taken = {w.lower() for w in (c.include_keywords or []) + (c.exclude_words or [])}
    if c.keyword_frequency:
        taken.add(c.keyword_frequency.word.lower())
    return [w for w in FILLER if w not in taken]


def _render(tokens: list[str], fillers: list[str], c: TextConstraints) -> str | None:
    title = " ".join(fillers[:2]) if c.title else None
    if title and not c.all_lowercase:
        title = title.title()
    if c.json_keys:
        chunks = _split(tokens, len(c.json_keys))
        values = [_sentence(chunk, c) if chunk else "" for chunk in chunks]
        if title:
            values[0] = f"<<{title}>> {values[0]}".strip()
        return json.dumps(dict(zip(c.json_keys, values, strict=True)), indent=2)
    if c.bullet_list:
        if len(tokens) < c.bullet_list:
            return None
        lines = [f"- {_cap(' '.join(chunk), c)}" for chunk in _split(tokens, c.bullet_list)]
        if c.end_phrase:
            lines[-1] += f" {c.end_phrase}"
        return "\n".join(([f"<<{title}>>"] if title else []) + lines)
    count = c.num_sentences or max(1, math.ceil(len(tokens) / WORDS_PER_SENTENCE))
    if len(tokens) < count - (1 if c.end_phrase else 0):
        return None
    chunks = _split(tokens, count)
    sentences = [_sentence(chunk, c) for chunk in chunks]
    if c.end_phrase:
        last = " ".join(chunks[-1])
        sentences[-1] = f"{_cap(last, c)} {c.end_phrase}".strip() if last else c.end_phrase
    body = " ".join(sentences)
    return f"<<{title}>>\n{body}" if title else body


def _split(tokens: list[str], parts: int) -> list[list[str]]:
    """`parts` consecutive chunks, sizes differing by at most one (some may be empty)."""
    size, rest = divmod(len(tokens), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < rest else 0)
        chunks.append(tokens[start:end])
        start = end
    return chunks


def _sentence(chunk: list[str], c: TextConstraints) -> str:
    return _cap(" ".join(chunk), c) + "."


def _cap(text: str, c: TextConstraints) -> str:
    return text if c.all_lowercase or not text else text[0].upper() + text[1:]
