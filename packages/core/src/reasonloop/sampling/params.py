"""What a caller asks of the sampler: the prompt, decoding parameters and the thinking mode.

Both are validated on construction so that bad input fails early with a `FieldError` that
names the field (a ValueError: the gRPC server maps it to INVALID_ARGUMENT): types, ranges,
finite floats and the sizes in `reasonloop.limits`, so nothing out of range reaches a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Literal

from reasonloop.field_error import FieldError
from reasonloop.limits import (
    MAX_INT32,
    MAX_LOGIT_BIAS,
    MAX_LOGIT_BIAS_VALUE,
    MAX_NOISE_SCALE,
    MAX_PENALTY,
    MAX_REPETITION_PENALTY,
    MAX_SEED,
    MAX_STOP_CHARS,
    MAX_STOP_STRINGS,
    MAX_TOP_LOGPROBS,
    MIN_TEMPERATURE,
    shown,
)

# A text, token ids, or chat messages ({"role": ..., "content": ...})
Prompt = str | Sequence[int] | Sequence[dict[str, str]]
ThinkingMode = Literal["hard", "soft", "fuzzy"]
THINKING_MODES: tuple[str, ...] = ("hard", "soft", "fuzzy")

# Defaults from "Soft Tokens, Hard Truths" (arXiv 2509.19170).
DEFAULT_THINKING_TEMPERATURE: dict[str, float] = {"hard": 1.0, "soft": 0.5, "fuzzy": 1e-4}
DEFAULT_NOISE_SCALE = 0.33


@dataclass(frozen=True)
class Grammar:
    """A constraint on the answer: exactly one of a JSON schema, a regex or an EBNF grammar."""

    kind: Literal["json_schema", "regex", "ebnf"]
    text: str

    def __post_init__(self) -> None:
        if self.kind not in ("json_schema", "regex", "ebnf"):
            raise FieldError(
                "grammar.kind",
                f"grammar.kind must be json_schema, regex or ebnf, not {shown(self.kind)}",
            )
        if not self.text.strip():
            raise FieldError("grammar.text", "grammar.text is empty")


@dataclass(frozen=True)
class ThinkingConfig:
    """The chain-of-thought phase that precedes the answer.

    The CoT ends once its last steps' chosen tokens (hard: sampled; soft/fuzzy: the most
    probable) are all of `end_marker`'s tokens, or after `max_tokens` steps (then the marker's
    missing tokens are fed); the answer is decoded discretely after it. The full rule and why:
    `reasonloop.sampling.thinking`.
    """

    mode: ThinkingMode = "soft"
    temperature: float | None = None  # None: 1.0 hard, 0.5 soft, 1e-4 fuzzy
    noise_scale: float = DEFAULT_NOISE_SCALE  # sigma relative to the embeddings' RMS
    max_tokens: int = 256
    end_marker: str = "</think>"

    def __post_init__(self) -> None:
        if self.mode not in THINKING_MODES:
            raise FieldError(
                "thinking.mode",
                f"thinking.mode must be one of {', '.join(THINKING_MODES)}, not {shown(self.mode)}",
            )
        if self.temperature is not None:
            _temperature("thinking.temperature", self.temperature)
        if self.mode != "hard" and self.temperature == 0:
            raise FieldError(
                "thinking.temperature",
                "thinking.temperature must be > 0 for soft/fuzzy (use 1e-4 for ~one-hot)",
            )
        _number("thinking.noise_scale", self.noise_scale, 0, MAX_NOISE_SCALE)
        _integer("thinking.max_tokens", self.max_tokens, 0, MAX_INT32)
        if not isinstance(self.end_marker, str):
            raise FieldError(
                "thinking.end_marker",
                f"thinking.end_marker must be a string, not {shown(self.end_marker)}",
            )
        if not self.end_marker:
            raise FieldError("thinking.end_marker", "thinking.end_marker must not be empty")

    @property
    def tau(self) -> float:
        """The CoT temperature actually used."""
        if self.temperature is not None:
            return self.temperature
        return DEFAULT_THINKING_TEMPERATURE[self.mode]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding parameters of one request. `temperature == 0` means greedy.

    Log-probs are those of the temperature-scaled distribution before top-k/top-p/min-p
    truncation (temperature 1 when greedy): the quantity a policy-gradient trainer needs.
    The answer's logits are first adjusted as OpenAI and vLLM do (see
    `reasonloop.sampling.logits.adjust_logits`): `repetition_penalty` (1: off) over the prompt's
    and answer's tokens, `frequency_penalty` and `presence_penalty` over the answer's, and
    `logit_bias`, (token id, bias) pairs added as they are. `top_logprobs` asks for that many
    most likely alternatives of each answer token as well (with `logprobs`).
    """

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    min_p: float = 0.0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    include_stop: bool = False  # keep the stop string that ended the answer in its text
    logprobs: bool = False
    ignore_eos: bool = False
    top_logprobs: int = 0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0
    logit_bias: tuple[tuple[int, float], ...] = ()
    grammar: Grammar | None = None
    thinking: ThinkingConfig | None = None

    def __post_init__(self) -> None:
        _integer("max_new_tokens", self.max_new_tokens, 1, MAX_INT32)
        _temperature("temperature", self.temperature)
        _number("top_p", self.top_p, 0, 1)
        if self.top_p == 0:
            raise FieldError("top_p", "top_p must be in (0, 1], got 0")
        _integer("top_k", self.top_k, 0, MAX_INT32)
        _number("min_p", self.min_p, 0, 1)
        _integer("n", self.n, 1, MAX_INT32)
        if self.seed is not None:
            _integer("seed", self.seed, 0, MAX_SEED)
        _stop_strings(self.stop)
        object.__setattr__(self, "stop", tuple(self.stop))
        _integer("top_logprobs", self.top_logprobs, 0, MAX_TOP_LOGPROBS)
        _number("frequency_penalty", self.frequency_penalty, -MAX_PENALTY, MAX_PENALTY)
        _number("presence_penalty", self.presence_penalty, -MAX_PENALTY, MAX_PENALTY)
        _number("repetition_penalty", self.repetition_penalty, 0, MAX_REPETITION_PENALTY)
        if self.repetition_penalty == 0:
            raise FieldError(
                "repetition_penalty", "repetition_penalty must be > 0 (1 is off), got 0"
            )
        _logit_bias(self.logit_bias)
        object.__setattr__(self, "logit_bias", tuple(tuple(pair) for pair in self.logit_bias))

    @property
    def adjusts_logits(self) -> bool:
        """Whether any penalty or bias changes this request's answer logits."""
        return bool(
            self.frequency_penalty
            or self.presence_penalty
            or self.repetition_penalty != 1
            or self.logit_bias
        )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def _number(name: str, value: object, low: float, high: float, field: str = "") -> None:
    """A finite real number in [low, high] (NaN and infinities are refused by name); `field`
    is the request field `name` is part of, when it is not the field itself."""
    field = field or name
    if isinstance(value, bool) or not isinstance(value, Real):
        raise FieldError(field, f"{name} must be a number, not {shown(value)}")
    if not math.isfinite(value):
        raise FieldError(field, f"{name} must be a finite number, got {value}")
    if not low <= float(value) <= high:
        raise FieldError(field, f"{name} must be in [{low}, {high}], got {shown(value)}")


def _integer(name: str, value: object, low: int, high: int, field: str = "") -> None:
    field = field or name
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise FieldError(field, f"{name} must be an integer, not {shown(value)}")
    if not low <= int(value) <= high:
        raise FieldError(field, f"{name} must be in [{low}, {high}], got {shown(value)}")


def _temperature(name: str, value: object) -> None:
    """0 (greedy) or a finite temperature from MIN_TEMPERATURE up."""
    _number(name, value, 0, math.inf)
    assert isinstance(value, Real)  # _number refused anything else
    if value != 0 and value < MIN_TEMPERATURE:  # >= 0 already
        raise FieldError(name, f"{name} must be 0 (greedy) or >= {MIN_TEMPERATURE}, got {value}")


def _stop_strings(stop: object) -> None:
    if isinstance(stop, str) or not isinstance(stop, tuple | list):
        raise FieldError("stop", f"stop must be a list of strings, not {shown(stop)}")
    if len(stop) > MAX_STOP_STRINGS:
        raise FieldError("stop", f"stop: {len(stop)} strings, the limit is {MAX_STOP_STRINGS}")
    for i, s in enumerate(stop):
        if not isinstance(s, str):
            raise FieldError("stop", f"stop[{i}] must be a string, not {shown(s)}")
        if not s:
            raise FieldError("stop", f"stop[{i}] is empty: stop strings must not be empty")
        if len(s) > MAX_STOP_CHARS:
            raise FieldError(
                "stop", f"stop[{i}] has {len(s)} characters, the limit is {MAX_STOP_CHARS}"
            )


def _logit_bias(bias: object) -> None:
    """(token id, bias) pairs; the ids are checked against the vocabulary by the sampler."""
    if not isinstance(bias, tuple | list):
        raise FieldError(
            "logit_bias", f"logit_bias must be a list of (token id, bias) pairs, not {shown(bias)}"
        )
    if len(bias) > MAX_LOGIT_BIAS:
        raise FieldError(
            "logit_bias", f"logit_bias: {len(bias)} entries, the limit is {MAX_LOGIT_BIAS}"
        )
    for i, pair in enumerate(bias):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise FieldError(
                "logit_bias", f"logit_bias[{i}] must be a (token id, bias) pair, not {shown(pair)}"
            )
        _integer(f"logit_bias[{i}] token id", pair[0], 0, MAX_INT32, field="logit_bias")
        _number(
            f"logit_bias[{i}] bias",
            pair[1],
            -MAX_LOGIT_BIAS_VALUE,
            MAX_LOGIT_BIAS_VALUE,
            field="logit_bias",
        )
