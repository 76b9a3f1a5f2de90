"""Incremental detokenization of one answer: stop strings and streaming deltas.

Text is re-decoded from the answer's tokens (tokenizers merge bytes across tokens), and
what is streamed holds back an unfinished UTF-8 character and any tail that could still
become a stop string, so a client never sees text that is later taken back.
"""

from __future__ import annotations

from typing import Any


class AnswerText:
    def __init__(self, tokenizer: Any, stop: tuple[str, ...], include_stop: bool = False) -> None:
        self._tokenizer = tokenizer
        self._stop = stop
        self._include_stop = include_stop
        self.text = ""
        self._streamed = 0
        self.stopped = False

    def update(self, token_ids: list[int]) -> None:
        """Re-decode after new tokens; truncate at the first stop string, if any appeared."""
        text = self._tokenizer.decode(token_ids, skip_special_tokens=True)
        for stop in self._stop:
            at = text.find(stop)
            if at != -1:
                text = text[: at + len(stop)] if self._include_stop else text[:at]
                self.stopped = True
        self.text = text

    def delta(self, final: bool = False) -> str:
        """The text that is safe to stream now and has not been streamed yet."""
        end = len(self.text)
        if not final:
            if self.text.endswith("\ufffd"):
                end -= 1
            end -= self._held_for_stop(self.text[:end])
        end = max(end, self._streamed)
        out = self.text[self._streamed : end]
        self._streamed = end
        return out

    def _held_for_stop(self, text: str) -> int:
        """Length of the longest tail of `text` that is a proper prefix of a stop string."""
        held = 0
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(text)), held, -1):
                if text.endswith(stop[:size]):
                    held = size
                    break
        return held
