"""What one request's caller has been sent, so that the request can be decoded again.

When a shared batch fails, the engine decodes each of its requests again on its own, so that
only the request at fault fails. A request that was streaming has already sent part of its
text; its rerun (same seed, so the same tokens) must send only what comes after that part.
`Delivery` tracks, per row, the text sent so far and turns each event of a rerun into the part
its caller has not seen yet; a rerun that disagrees with what was sent (float differences
between batch shapes can flip a near-tie) raises instead of sending text that contradicts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from reasonloop.sampling.decoder import StreamEvent


class RerunDivergedError(RuntimeError):
    """A request decoded again after its batch failed did not repeat what it had sent."""


@dataclass
class _Row:
    thinking: str = ""  # sent so far
    text: str = ""
    finished: bool = False
    thinking_seen: int = 0  # characters of this attempt's deltas so far
    text_seen: int = 0


@dataclass
class Delivery:
    """The rows' text sent to one caller, across attempts at decoding its request."""

    _rows: dict[tuple[int, int], _Row] = field(default_factory=dict)

    def new_attempt(self) -> None:
        """A rerun starts: its deltas start over from the rows' first character."""
        for row in self._rows.values():
            row.thinking_seen = row.text_seen = 0

    def unsent(self, event: StreamEvent) -> StreamEvent | None:
        """The part of `event` its caller has not been sent (None: nothing new)."""
        row = self._rows.setdefault((event.prompt_index, event.sample_index), _Row())
        if row.finished:
            return None
        thinking = _new_part(row.thinking, row.thinking_seen, event.thinking_delta, "thinking")
        text = _new_part(row.text, row.text_seen, event.text_delta, "text")
        row.thinking_seen += len(event.thinking_delta)
        row.text_seen += len(event.text_delta)
        row.thinking += thinking
        row.text += text
        row.finished = event.completion is not None
        if not (thinking or text or row.finished):
            return None
        return replace(event, thinking_delta=thinking, text_delta=text)


def _new_part(sent: str, seen: int, delta: str, what: str) -> str:
    """What of `delta` (which starts at character `seen` of this attempt) is beyond `sent`."""
    overlap = sent[seen : seen + len(delta)]
    if not delta.startswith(overlap):
        raise RerunDivergedError(
            f"decoding failed in a batch shared with another request, and decoding this "
            f"request again gave a different {what} than it had already streamed"
        )
    return delta[len(overlap) :]
