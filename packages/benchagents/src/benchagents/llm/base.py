"""The one LLM interface the agents speak, and structured output with bounded retries.

Backends only implement `generate` (a batch of chat conversations in, texts out, optionally
constrained to a JSON schema); everything the agents need on top of it lives here once:
single completions, and `complete_json`, which validates the answer with pydantic and, when it
does not fit, asks again with the validation error fed back, a bounded number of times. Weak
models fail often, so the failure is a value (`StructuredOutputError`) the caller can count
and replace with the domain's built-in code.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from reasonloop.errors import describe
from reasonloop.slots import filled

if TYPE_CHECKING:
    from reasonloop.sampling.params import SamplingParams

Messages = list[dict[str, str]]
Advance = Callable[[int], None]  # told how many more conversations are done
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class BackendError(RuntimeError):
    """The backend could not be reached or refused the request (not a bad answer)."""


class StructuredOutputError(ValueError):
    """The model's answers did not fit the schema, even after the retries."""

    def __init__(self, schema: str, attempts: int, errors: list[str], messages: Messages) -> None:
        self.schema = schema
        self.attempts = attempts
        self.errors = errors
        self.messages = messages  # the whole conversation, retries and fed-back errors included
        super().__init__(
            f"the model's answer did not fit {schema} after {attempts} attempt(s); "
            f"last error: {errors[-1]}"
        )


@dataclass(frozen=True)
class GenerationOptions:
    """What every backend honours; `json_schema` constrains the answer's syntax."""

    max_tokens: int = 256
    temperature: float = 0.0
    n: int = 1
    seed: int | None = None
    json_schema: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.max_tokens <= 0:
            raise ValueError(f"max_tokens must be > 0, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")

    def sampling_params(self) -> SamplingParams:
        """The core's sampling parameters for these options (what the local and the gRPC
        backend both send); the schema becomes a JSON-schema grammar."""
        from reasonloop.sampling.params import Grammar, SamplingParams

        grammar = None
        if self.json_schema is not None:
            grammar = Grammar("json_schema", json.dumps(self.json_schema))
        return SamplingParams(
            max_new_tokens=self.max_tokens,
            temperature=self.temperature,
            n=self.n,
            seed=self.seed,
            grammar=grammar,
        )


class LLM(ABC):
    """A chat model behind some backend. `name` is its spec, as reports show it."""

    name: str
    batch_size: int = 8  # conversations per `generate` call (progress is reported per batch)

    def __init__(self) -> None:
        self.stats: Counter[str] = Counter()  # calls, retries, structured failures
        self._stats_lock = threading.Lock()

    @abstractmethod
    def generate(
        self, conversations: Sequence[Messages], options: GenerationOptions
    ) -> list[list[str]]:
        """Per conversation, its `options.n` answers in order."""

    def close(self) -> None:
        """Release connections or memory; the default holds none."""
        return None

    def count(self, key: str, amount: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += amount

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        n: int = 1,
        seed: int | None = None,
    ) -> list[str]:
        """The `n` answers to one conversation."""
        return self.complete_many(
            [messages], max_tokens=max_tokens, temperature=temperature, n=n, seed=seed
        )[0]

    def complete_many(
        self,
        conversations: Sequence[Messages],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        n: int = 1,
        seed: int | None = None,
        advance: Advance | None = None,
    ) -> list[list[str]]:
        """Per conversation, its `n` answers; `advance(k)` after every k conversations."""
        options = GenerationOptions(max_tokens, temperature, n, seed)
        return self._in_batches(conversations, lambda chunk: self.generate(chunk, options), advance)

    def complete_json(
        self,
        messages: Messages,
        schema: type[M],
        *,
        max_retries: int = 2,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> M:
        """One answer validated as `schema`; raises StructuredOutputError when none fits."""
        (result,) = self.sample_json(
            messages,
            schema,
            1,
            max_retries=max_retries,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
        )
        if isinstance(result, StructuredOutputError):
            raise result
        return result

    def sample_json(
        self,
        messages: Messages,
        schema: type[M],
        n: int,
        *,
        max_retries: int = 2,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[M | StructuredOutputError]:
        """`n` answers to one conversation, each validated (and retried) on its own; n > 1
        with a temperature gives n different answers, in one batch. Failures are returned."""
        settings = (max_retries, max_tokens, temperature, seed)
        return self._json_samples([messages], schema, n, *settings)[0]

    def complete_json_many(
        self,
        conversations: Sequence[Messages],
        schema: type[M],
        *,
        max_retries: int = 2,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
        advance: Advance | None = None,
    ) -> list[M | StructuredOutputError]:
        """`complete_json` over many conversations, in batches; a failure is returned, not
        raised, so one bad answer does not cost the others."""
        settings = (max_retries, max_tokens, temperature, seed)
        return self._in_batches(
            conversations,
            lambda chunk: [r[0] for r in self._json_samples(chunk, schema, 1, *settings)],
            advance,
        )

    def _in_batches(
        self,
        conversations: Sequence[Messages],
        run: Callable[[list[Messages]], list[T]],
        advance: Advance | None,
    ) -> list[T]:
        """`run` over batches of `batch_size` conversations of similar length (less padding
        for batching backends); results in the conversations' order."""
        order = sorted(range(len(conversations)), key=lambda i: _length(conversations[i]))
        results: list[T | None] = [None] * len(conversations)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, result in zip(chunk, run([conversations[i] for i in chunk]), strict=True):
                results[i] = result
            if advance is not None:
                advance(len(chunk))
        return filled(results)

    def _json_samples(
        self,
        conversations: Sequence[Messages],
        schema: type[M],
        n: int,
        max_retries: int,
        max_tokens: int,
        temperature: float,
        seed: int | None,
    ) -> list[list[M | StructuredOutputError]]:
        """Per conversation, n validated answers. The first round samples n per conversation;
        each failed sample is then retried as its own conversation (its answer and the error
        appended), all failures of a round together."""
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        json_schema = schema.model_json_schema()
        hint = "Answer with one JSON object that fits this JSON schema:\n" + json.dumps(
            json_schema, separators=(",", ":")
        )
        hinted = [_with_hint(list(messages), hint) for messages in conversations]
        first = self.generate(
            hinted, GenerationOptions(max_tokens, temperature, n, seed, json_schema)
        )
        slots = [(c, s) for c in range(len(conversations)) for s in range(n)]
        texts = {(c, s): first[c][s] for c, s in slots}
        dialogs = {slot: hinted[slot[0]] for slot in slots}
        errors: dict[tuple[int, int], list[str]] = {slot: [] for slot in slots}
        results: list[list[Any]] = [[None] * n for _ in conversations]
        pending = slots
        retry = GenerationOptions(max_tokens, temperature, 1, seed, json_schema)
        for attempt in range(max_retries + 1):
            if attempt:
                self.count("retries", len(pending))
                answers = self.generate([dialogs[slot] for slot in pending], retry)
                texts = {slot: text for slot, (text,) in zip(pending, answers, strict=True)}
            still = []
            for slot in pending:
                c, s = slot
                try:
                    results[c][s] = schema.model_validate_json(texts[slot])
                except ValidationError as error:
                    problem = describe(error, subject="the answer")
                    errors[slot].append(problem)
                    dialogs[slot] = [
                        *dialogs[slot],
                        {"role": "assistant", "content": texts[slot]},
                        {
                            "role": "user",
                            "content": f"That answer is invalid: {problem}. "
                            "Answer again with one corrected JSON object.",
                        },
                    ]
                    still.append(slot)
            pending = still
            if not pending:
                break
        self.count("structured_failures", len(pending))
        for c, s in pending:
            results[c][s] = StructuredOutputError(
                schema.__name__, max_retries + 1, errors[(c, s)], dialogs[(c, s)]
            )
        return results


def _length(messages: Messages) -> int:
    return sum(len(m.get("content", "")) for m in messages)


def _with_hint(messages: Messages, hint: str) -> Messages:
    """The schema, appended to the last user message (weak models need to see it)."""
    if not messages or messages[-1].get("role") != "user":
        return [*messages, {"role": "user", "content": hint}]
    last = messages[-1]
    return [*messages[:-1], {**last, "content": f"{last['content']}\n\n{hint}"}]
