"""The request bodies of the OpenAI-compatible API, and how their fields map onto
`SamplingParams`.

Common clients send fields by default that a small server may not implement (vLLM's and
OpenAI's extensions, `chat_template_kwargs`, `reasoning_effort`, ...). As vLLM does, a field
no body declares is accepted and logged (`unknown_fields` finds them, nested ones included);
a server started with `strict` refuses them with a 400 naming the field instead.
"""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reasonloop.field_error import FieldError
from reasonloop.limits import MAX_CHAT_MESSAGES, MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS, shown
from reasonloop.sampling.params import Grammar, Prompt, SamplingParams, ThinkingConfig


class Body(BaseModel):
    """A request body (or part of one) that keeps the fields it does not declare, so that
    the server can log them, or refuse them when strict."""

    model_config = ConfigDict(extra="allow")


def unknown_fields(body: BaseModel, where: str = "") -> list[str]:
    """Dotted paths of the fields `body` and its nested bodies do not declare."""
    found = [f"{where}{name}" for name in body.model_extra or {}]
    for name in type(body).model_fields:
        value = getattr(body, name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, BaseModel):
                index = f"[{i}]" if isinstance(value, list) else ""
                found += unknown_fields(item, f"{where}{name}{index}.")
    return found


class StreamOptions(Body):
    include_usage: bool = False  # a last chunk, with no choices, carries the usage


def _logit_bias(bias: dict[str, float] | None) -> tuple[tuple[int, float], ...]:
    """OpenAI's {"token id": bias} as (id, bias) pairs; the ranges are SamplingParams'."""
    if not bias:
        return ()
    if len(bias) > MAX_LOGIT_BIAS:
        raise FieldError(
            "logit_bias", f"logit_bias: {len(bias)} entries, the limit is {MAX_LOGIT_BIAS}"
        )
    pairs = []
    for key, value in bias.items():
        if not (key.isascii() and key.isdigit() and len(key) <= 10):
            raise FieldError("logit_bias", f"logit_bias: the key {shown(key)} is not a token id")
        pairs.append((int(key), value))
    return tuple(pairs)


class GenerationBody(Body):
    """Fields both endpoints share; unset (or null) ones take SamplingParams' defaults."""

    model: str
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None  # accepted for compatibility, unused
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    top_k: int | None = None  # extensions, as vLLM names them
    min_p: float | None = None
    repetition_penalty: float | None = None
    ignore_eos: bool = False

    def sampling_fields(self) -> dict[str, Any]:
        fields = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "seed": self.seed,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "repetition_penalty": self.repetition_penalty,
        }
        fields = {name: value for name, value in fields.items() if value is not None}
        fields["stop"] = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        fields["ignore_eos"] = self.ignore_eos
        fields["logit_bias"] = _logit_bias(self.logit_bias)
        return fields

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class CompletionBody(GenerationBody):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = 16
    logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)  # top alternatives
    echo: bool = False  # the prompt (and its tokens' log-probs) before the completion

    def prompts(self) -> list[Prompt]:
        if isinstance(self.prompt, str):
            return [self.prompt]
        # pydantic parsed one list type: its first item tells which
        if self.prompt and isinstance(self.prompt[0], int):
            return [cast("list[int]", self.prompt)]  # one prompt of token ids
        return list(cast("list[str] | list[list[int]]", self.prompt))  # a prompt per item

    @property
    def generates(self) -> bool:
        """False for `echo` with `max_tokens` 0: the prompt's log-probs are all it asks."""
        return not (self.echo and self.max_tokens == 0)

    def params(self) -> SamplingParams:
        max_tokens = self.max_tokens if self.max_tokens is not None else 16
        return SamplingParams(
            max_new_tokens=max_tokens if self.generates else 1,
            logprobs=self.logprobs is not None,
            top_logprobs=self.logprobs or 0,
            **self.sampling_fields(),
        )


class TextPart(Body):
    type: Literal["text"]
    text: str


class ChatMessage(Body):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None  # accepted for compatibility, unused

    def as_prompt_message(self) -> dict[str, str]:
        content = self.content
        text = content if isinstance(content, str) else "".join(p.text for p in content)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class JsonSchemaFormat(Body):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("json_schema is required when type is json_schema")
        return self

    def grammar(self) -> Grammar | None:
        if self.type == "json_object":
            return Grammar("json_schema", json.dumps({"type": "object"}))
        if self.json_schema is not None:
            return Grammar("json_schema", json.dumps(self.json_schema.schema_))
        return None


class ThinkingBody(Body):
    """The reasonloop extension: a hard/soft/fuzzy chain of thought before the answer."""

    mode: Literal["hard", "soft", "fuzzy"]
    max_tokens: int | None = None
    temperature: float | None = None
    noise_scale: float | None = None
    end_marker: str | None = None

    def config(self) -> ThinkingConfig:
        fields = self.model_dump(exclude_none=True)
        return ThinkingConfig(**{k: v for k, v in fields.items() if k in type(self).model_fields})


class ChatBody(GenerationBody):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_CHAT_MESSAGES)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    logprobs: bool = False  # the chosen tokens' log-probs
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: ResponseFormat | None = None
    thinking: ThinkingBody | None = None

    @model_validator(mode="after")
    def _logprobs_for_top(self) -> ChatBody:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def params(self, default_max_tokens: int) -> SamplingParams:
        max_tokens = self.max_completion_tokens
        if max_tokens is None:
            max_tokens = self.max_tokens if self.max_tokens is not None else default_max_tokens
        return SamplingParams(
            max_new_tokens=max_tokens,
            logprobs=self.logprobs,
            top_logprobs=self.top_logprobs or 0,
            grammar=self.response_format.grammar() if self.response_format else None,
            thinking=self.thinking.config() if self.thinking else None,
            **self.sampling_fields(),
        )


class TokenizeBody(Body):
    """vLLM's /tokenize: a text prompt or chat messages (rendered with the chat template)."""

    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(
        default=None, min_length=1, max_length=MAX_CHAT_MESSAGES
    )
    add_special_tokens: bool = True

    @model_validator(mode="after")
    def _one_input(self) -> TokenizeBody:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("exactly one of prompt and messages is required")
        return self


class DetokenizeBody(Body):
    model: str | None = None
    tokens: list[int]
