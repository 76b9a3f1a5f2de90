"""What a caller asks of the sampler: decoding parameters and the thinking mode.

Both are validated on construction so that bad input fails early with a message that
names the field (the gRPC server maps these ValueErrors to INVALID_ARGUMENT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
            raise ValueError(f"grammar.kind must be json_schema, regex or ebnf, not {self.kind!r}")
        if not self.text.strip():
            raise ValueError("grammar.text is empty")


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
            raise ValueError(
                f"thinking.mode must be one of {', '.join(THINKING_MODES)}, not {self.mode!r}"
            )
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"thinking.temperature must be >= 0, got {self.temperature}")
        if self.mode != "hard" and self.temperature == 0:
            raise ValueError(
                "thinking.temperature must be > 0 for soft/fuzzy (use 1e-4 for ~one-hot)"
            )
        if self.noise_scale < 0:
            raise ValueError(f"thinking.noise_scale must be >= 0, got {self.noise_scale}")
        if self.max_tokens < 0:
            raise ValueError(f"thinking.max_tokens must be >= 0, got {self.max_tokens}")
        if not self.end_marker:
            raise ValueError("thinking.end_marker must not be empty")

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
    grammar: Grammar | None = None
    thinking: ThinkingConfig | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be > 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 <= self.min_p <= 1:
            raise ValueError(f"min_p must be in [0, 1], got {self.min_p}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if any(not s for s in self.stop):
            raise ValueError("stop strings must not be empty")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0
