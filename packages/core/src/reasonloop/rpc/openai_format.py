"""The OpenAI-compatible port's answers: completion and chat bodies, whole or as server-sent
chunks, with usage and log-probs in OpenAI's shapes (and vLLM's where OpenAI has none).

Log-probs show each token as its own decoded text with a map of its top alternatives (the
chosen token included, as vLLM does); an echoed prompt's tokens come first, the first of them
with no log-prob (nothing predicts it). A streamed answer's `text_offset`s count as they would
in the whole answer.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from reasonloop.extras import requires

with requires("http"):
    from fastapi.responses import StreamingResponse

from reasonloop.limits import clipped
from reasonloop.rpc.engine import GenerationRequest
from reasonloop.sampling.decoder import Completion, StreamEvent
from reasonloop.sampling.params import Prompt

logger = logging.getLogger(__name__)

Chunks = AsyncIterator[dict[str, Any]]


def usage(job: GenerationRequest, completions: list[Completion]) -> dict[str, int]:
    decoded = sum(c.decoded_tokens for c in completions)
    return {
        "prompt_tokens": job.prompt_tokens,
        "completion_tokens": decoded,
        "total_tokens": job.prompt_tokens + decoded,
    }


class TokenTexts:
    """Token texts, as log-prob answers show them (each token decoded alone)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, token: int) -> str:
        return self.tokenizer.decode([token])


def text_logprobs(
    texts: TokenTexts,
    token_ids: list[int],
    logprobs: Sequence[float | None],
    tops: list[list[tuple[int, float]]] | None,
    offset: int = 0,
) -> dict[str, Any]:
    """Completions' log-probs: each token's, and a {token: log-prob} map of its alternatives
    (the chosen token included, as vLLM does); `text_offset` counts from `offset`."""
    tokens = [texts(t) for t in token_ids]
    top_maps: list[dict[str, float] | None] = []
    for i, (token, lp) in enumerate(zip(tokens, logprobs, strict=True)):
        if lp is None:  # the prompt's first token: nothing predicts it
            top_maps.append(None)
            continue
        # tokens of one text (bytes of a character) share a key: the most likely one wins
        alternatives = {texts(t): alp for t, alp in reversed(tops[i])} if tops is not None else {}
        top_maps.append({**alternatives, token: lp})
    offsets = []
    for token in tokens:
        offsets.append(offset)
        offset += len(token)
    return {
        "tokens": tokens,
        "token_logprobs": logprobs,
        "top_logprobs": top_maps,
        "text_offset": offsets,
    }


def chat_logprobs(
    texts: TokenTexts,
    token_ids: list[int],
    logprobs: list[float],
    tops: list[list[tuple[int, float]]] | None,
) -> dict[str, Any]:
    def entry(token: int, lp: float) -> dict[str, Any]:
        text = texts(token)
        return {"token": text, "logprob": lp, "bytes": list(text.encode())}

    content = [
        {**entry(t, lp), "top_logprobs": [entry(a, alp) for a, alp in tops[i]] if tops else []}
        for i, (t, lp) in enumerate(zip(token_ids, logprobs, strict=True))
    ]
    return {"content": content}


def header(kind: str, model: str) -> dict[str, Any]:
    """The fields every answer (or chunk) of one request shares."""
    prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
    }


def sse(chunks: Chunks) -> StreamingResponse:
    """Server-sent events as OpenAI sends them; an error mid-stream becomes an error event."""

    async def lines() -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield f"data: {json.dumps(chunk)}\n\n"
        except Exception as error:
            logger.exception("streaming a response failed")
            body = {"message": clipped(f"internal error: {error!r}"), "type": "server_error"}
            yield f"data: {json.dumps({'error': {**body, 'param': None, 'code': None}})}\n\n"
        yield "data: [DONE]\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(lines(), media_type="text/event-stream", headers=headers)


@dataclass
class Echo:
    """An echoed prompt: its tokens, their log-probs (None for the first) and alternatives
    (empty when not asked)."""

    ids: list[int]
    logprobs: list[float | None]
    top_logprobs: list[list[tuple[int, float]]]


@dataclass
class CompletionAnswer:
    """The answer to one `/v1/completions` request: its prompts (echoed when asked: `echoed`
    holds their tokens) and its choices, `n` per prompt."""

    texts: TokenTexts
    header: dict[str, Any]
    prompts: list[Prompt]
    echo: bool  # the request asked for its prompts back
    echoed: list[Echo]
    logprobs: bool  # the request asked for log-probs

    def echo_only(self) -> dict[str, Any]:
        """The answer when nothing is generated (`echo` with `max_tokens` 0): the prompts."""
        choices = [
            {
                "index": i,
                "text": self._echo_text(i),
                "logprobs": self._echo_logprobs(i),
                "finish_reason": "length",
            }
            for i in range(len(self.prompts))
        ]
        prompt_tokens = sum(len(prompt.ids) for prompt in self.echoed)
        counts = {"prompt_tokens": prompt_tokens, "completion_tokens": 0}
        return {
            **self.header,
            "choices": choices,
            "usage": counts | {"total_tokens": prompt_tokens},
        }

    def whole(self, job: GenerationRequest, done: list[Completion]) -> dict[str, Any]:
        choices = [self._choice(c, job.params.n) for c in done]
        return {**self.header, "choices": choices, "usage": usage(job, done)}

    async def chunks(
        self, job: GenerationRequest, events: AsyncIterator[StreamEvent], include_usage: bool
    ) -> Chunks:
        n, done = job.params.n, []
        offsets = {}  # per choice, text_offset's next value (as in a whole answer)
        if self.echo:
            for index in range(len(self.prompts) * n):
                text = self._echo_text(index // n)
                offsets[index] = len(text)
                delta = {"index": index, "text": text, "finish_reason": None}
                yield {
                    **self.header,
                    "choices": [delta | {"logprobs": self._echo_logprobs(index // n)}],
                }
        async for event in events:
            index = event.prompt_index * n + event.sample_index
            delta = {
                "index": index,
                "text": event.text_delta,
                "logprobs": None,
                "finish_reason": None,
            }
            if self.logprobs:
                offset = offsets.get(index, 0)
                tops = event.top_logprobs if job.params.top_logprobs else None
                lps = text_logprobs(
                    self.texts, event.token_ids, list(event.token_logprobs), tops, offset
                )
                delta["logprobs"] = lps
                offsets[index] = offset + sum(len(token) for token in lps["tokens"])
            if event.completion is not None:
                done.append(event.completion)
                delta["finish_reason"] = event.completion.finish_reason
            yield {**self.header, "choices": [delta]}
        if include_usage:
            yield {**self.header, "choices": [], "usage": usage(job, done)}

    def _echo_text(self, prompt_index: int) -> str:
        prompt = self.prompts[prompt_index]
        if isinstance(prompt, str):
            return prompt
        return self.texts.tokenizer.decode(self.echoed[prompt_index].ids)

    def _echo_logprobs(self, prompt_index: int) -> dict[str, Any] | None:
        if not self.logprobs:
            return None
        prompt = self.echoed[prompt_index]
        return text_logprobs(self.texts, prompt.ids, prompt.logprobs, prompt.top_logprobs)

    def _choice(self, c: Completion, n: int) -> dict[str, Any]:
        lps = None
        if self.logprobs:
            lps = text_logprobs(self.texts, c.token_ids, c.token_logprobs or [], c.top_logprobs)
        echo = self._echo_text(c.prompt_index) if self.echo else ""
        return {
            "index": c.prompt_index * n + c.sample_index,
            "text": echo + c.text,
            "logprobs": self._after_echo(c.prompt_index, lps),
            "finish_reason": c.finish_reason,
        }

    def _after_echo(self, prompt_index: int, part: dict[str, Any] | None) -> dict[str, Any] | None:
        """Log-probs after the echoed prompt's (when echoed)."""
        if not self.echo or part is None:
            return part
        head = self._echo_logprobs(prompt_index)
        assert head is not None
        shift = len(self._echo_text(prompt_index))
        part["text_offset"] = [o + shift for o in part["text_offset"]]
        return {key: head[key] + part[key] for key in head}


@dataclass
class ChatAnswer:
    """The answer to one `/v1/chat/completions` request: `n` choices of one conversation."""

    texts: TokenTexts
    header: dict[str, Any]
    logprobs: bool  # the request asked for log-probs

    def whole(self, job: GenerationRequest, done: list[Completion]) -> dict[str, Any]:
        choices = []
        for c in done:
            message = {"role": "assistant", "content": c.text}
            if c.thinking is not None:
                message["reasoning_content"] = c.thinking.text
            lps = None
            if self.logprobs:
                lps = chat_logprobs(self.texts, c.token_ids, c.token_logprobs or [], c.top_logprobs)
            choices.append(
                {
                    "index": c.sample_index,
                    "message": message,
                    "logprobs": lps,
                    "finish_reason": c.finish_reason,
                }
            )
        return {**self.header, "choices": choices, "usage": usage(job, done)}

    async def chunks(
        self, job: GenerationRequest, events: AsyncIterator[StreamEvent], include_usage: bool
    ) -> Chunks:
        head = {**self.header, "object": "chat.completion.chunk"}

        def chunk(index: int, delta: dict[str, str], **extra: Any) -> dict[str, Any]:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
            return {**head, "choices": [choice | extra]}

        for index in range(job.params.n):
            yield chunk(index, {"role": "assistant", "content": ""})
        done = []
        async for event in events:
            delta = {}
            if event.thinking_delta:
                delta["reasoning_content"] = event.thinking_delta
            if event.text_delta:
                delta["content"] = event.text_delta
            extra: dict[str, Any] = {}
            if self.logprobs and event.token_ids:
                tops = event.top_logprobs if job.params.top_logprobs else None
                extra["logprobs"] = chat_logprobs(
                    self.texts, event.token_ids, event.token_logprobs, tops
                )
            if event.completion is not None:
                done.append(event.completion)
                extra["finish_reason"] = event.completion.finish_reason
            yield chunk(event.sample_index, delta, **extra)
        if include_usage:
            yield {**head, "choices": [], "usage": usage(job, done)}
