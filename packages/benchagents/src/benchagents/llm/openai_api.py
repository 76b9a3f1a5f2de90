"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp, `reasonloop serve
--openai-port`), through the official `openai` client.

JSON answers are asked for with `response_format={"type": "json_schema", ...}`; servers that
constrain decoding (vLLM, reasonloop) then always produce valid JSON, others usually do, and
`complete_json`'s retries catch the rest. The API takes one conversation per request, so a
batch is sent from a few threads at once (a batching server decodes them together).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict, cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from benchagents.llm.base import LLM, BackendError, GenerationOptions, Messages


class _Extra(TypedDict, total=False):
    """The optional request fields a call sends only when set."""

    response_format: ResponseFormatJSONSchema
    seed: int


class OpenAIBackend(LLM):
    batch_size = 8

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        model: str,
        *,
        concurrency: int = 8,
        timeout_s: float = 600.0,
    ) -> None:
        super().__init__()
        if not model:
            raise ValueError("the OpenAI-compatible backend needs a model name (--model)")
        self.model = model
        self.name = f"openai:{model}"
        self.concurrency = concurrency
        try:
            self._client = openai.OpenAI(
                base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=2
            )
        except openai.OpenAIError as error:
            raise BackendError(f"OpenAI-compatible backend: {error}") from None

    def _one(self, messages: Messages, options: GenerationOptions) -> list[str]:
        extra: _Extra = {}
        if options.json_schema is not None:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": str(options.json_schema.get("title", "answer")),
                    "schema": options.json_schema,
                },
            }
        if options.seed is not None:
            extra["seed"] = options.seed
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                # role/content dicts: the plain form of the API's message union
                messages=cast("list[ChatCompletionMessageParam]", messages),
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                n=options.n,
                **extra,
            )
        except openai.APIError as error:
            raise BackendError(f"{self._client.base_url} ({self.model}): {error}") from None
        choices = sorted(response.choices, key=lambda c: c.index)
        return [c.message.content or "" for c in choices]

    def generate(
        self, conversations: Sequence[Messages], options: GenerationOptions
    ) -> list[list[str]]:
        self.count("calls", len(conversations))
        if len(conversations) <= 1:
            return [self._one(m, options) for m in conversations]
        with ThreadPoolExecutor(min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda m: self._one(m, options), conversations))

    def close(self) -> None:
        self._client.close()
