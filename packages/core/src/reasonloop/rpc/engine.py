"""The engine behind every server: one thread owns the model and decodes every request in
one running batch, which requests join and leave at any step (continuous batching).

Callers (gRPC handlers, the OpenAI HTTP routes) submit a request from their own threads and
read its events from a queue; a bounded waiting line turns overload into an immediate
`QueueFullError` instead of unbounded latency. Between two decoding steps the worker takes the
waiting requests that fit, in arrival order (the first that does not fit waits at the head of
the line, and everyone behind it) and adds their rows to the batch: their prompts are computed
in the running rows' next pass, packed after the rows' tokens, so a join costs the running rows
no pass of its own (`reasonloop.sampling.decoder.RunningBatch`; the rows' keys and values
live in slots of a `SlotCache`, so joining and leaving move no other row's cache). A row leaves
the step it finishes; a request whose caller goes away is cancelled and its rows leave at the
next step.

Memory is admitted in tokens: the batch's KV cache holds slots x (the longest live request's
prompt + decoding steps) positions, so a request claiming more than `max_batch_tokens` alone is
refused, and requests join only while the batch stays within it and `max_batch_rows`. At most
`max_prefill_tokens` prompt positions are prefilled in one step: requests whose prompts fit it
together join together; a longer one joins alone and is prefilled a chunk per step, after the
running rows' step (chunked prefill), while the requests behind it wait, so a long prompt
never stalls the running rows for more than one chunk. Prompts sharing a prefix with a recent
one (a system prompt, few-shot examples, one prompt sent n times) prefill only the rest
(`reasonloop.sampling.prefix_cache`, `prefix_cache_tokens` positions kept). Score runs its
items in chunks of at most `max_score_tokens` positions (their logits are positions x
vocabulary), each chunk queued on its own and run between two steps.

A failing step fails no request by itself: if joining requests' prefill fails, each is tried
alone; if a decoding step fails, each request of the batch is decoded again alone, so only the
one at fault gets the error (a streaming one sends only what it had not sent; see
`reasonloop.rpc.delivery`). Requests without a seed get one on submission, so a rerun repeats
their samples.
"""

from __future__ import annotations

import logging
import math
import queue
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from reasonloop.extras import requires

with requires("models"):
    import torch

from reasonloop.field_error import FieldError
from reasonloop.limits import MIN_TEMPERATURE, at_most
from reasonloop.models.loading import LoadedModel
from reasonloop.rpc.delivery import Delivery
from reasonloop.sampling import Grammar, SamplingParams
from reasonloop.sampling.decoder import Completion, Joining, RunningBatch, Sampler, StreamEvent
from reasonloop.sampling.params import Prompt
from reasonloop.sampling.prefix_cache import PrefixCache
from reasonloop.sampling.teacher_forcing import completion_log_probs, top_log_probs

logger = logging.getLogger(__name__)
T = TypeVar("T")


class QueueFullError(RuntimeError):
    """More requests wait than the engine accepts; the caller should retry later."""


class EngineClosedError(RuntimeError):
    """The engine is shutting down and takes no new requests."""


@dataclass(frozen=True)
class EngineLimits:
    """What one request may ask for, and how much the engine takes on at once."""

    max_new_tokens: int = 2048
    max_n: int = 64
    max_prompts: int = 64
    max_batch_rows: int = 256  # rows (prompts x n) decoded together
    max_batch_tokens: int = 32768  # KV-cache positions of a batch: rows x (prompt + steps)
    max_prefill_tokens: int = 4096  # prompt tokens joining in one step (one request: any)
    prefix_cache_tokens: int = 4096  # prompt positions whose keys/values are kept (LRU)
    max_score_items: int = 256  # items of one Score call
    max_score_tokens: int = 8192  # positions of one Score chunk: items x (prompt + continuation)
    max_queue: int = 256  # requests waiting for the model
    grammar_compile_s: float = 10.0  # a request's grammar compiles in a worker killed after it

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")


_END = object()


@dataclass
class GenerationRequest:
    """One caller's prompts; `events()` yields its StreamEvents until the last completion."""

    prompts: list[list[int]]  # token ids: the submitter tokenized them
    params: SamplingParams
    prompt_tokens: int
    width: int  # the longest prompt's tokens
    steps: int  # the most decoding steps a row may take (CoT, end marker, answer)
    grammars: dict[Grammar, Any] = field(default_factory=dict)  # compiled by the submitter
    _events: queue.Queue[Any] = field(default_factory=queue.Queue)
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _delivery: Delivery = field(default_factory=Delivery)

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.params.n

    def cancel(self) -> None:
        """Stop decoding this request (the client left or its deadline passed)."""
        self._cancelled.set()
        self._events.put(_END)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def events(self) -> Iterator[StreamEvent]:
        """Events in decoding order; raises what the engine raised for this request."""
        while True:
            item = self._events.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def completions(self) -> list[Completion]:
        """Waits for the whole request; completions ordered by prompt, then sample."""
        done = [e.completion for e in self.events() if e.completion is not None]
        return sorted(done, key=lambda c: (c.prompt_index, c.sample_index))


@dataclass
class _Call:
    function: Callable[[], Any]
    future: Future[Any]


class InferenceEngine:
    """Owns a loaded model; decodes concurrent requests in one running batch."""

    def __init__(self, loaded: LoadedModel, limits: EngineLimits | None = None) -> None:
        self.loaded = loaded
        self.limits = limits or EngineLimits()
        self.sampler = Sampler(
            loaded.model, loaded.tokenizer, grammar_time_limit_s=self.limits.grammar_compile_s
        )
        self.sampler.prefix_cache = PrefixCache(self.limits.prefix_cache_tokens)
        self._waiting: queue.Queue[GenerationRequest | _Call | None] = queue.Queue(
            self.limits.max_queue
        )
        self._closed = False
        self.running = 0  # requests in the running batch now
        self.served = 0  # requests decoded since start (cancelled ones included)
        self.batches = 0  # prefill passes since start: requests joining together, reruns
        self._worker = threading.Thread(target=self._loop, name="inference-engine", daemon=True)
        self._worker.start()

    @property
    def name(self) -> str:
        return self.loaded.spec

    @property
    def waiting(self) -> int:
        """Requests in the waiting line (not yet taken into a batch)."""
        return self._waiting.qsize()

    @property
    def capacity(self) -> int:
        """The most requests the engine holds at once: the waiting line, one being taken from
        it, and the running batch (at least one row each)."""
        return self.limits.max_queue + 1 + self.limits.max_batch_rows

    @property
    def max_new_tokens_limit(self) -> int:
        return min(self.limits.max_new_tokens, self.sampler.context_length - 1)

    # ---- submitting -----------------------------------------------------------------

    def check(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[int]]:
        """Validate a request against the model and the limits (FieldError naming the field)."""
        if not prompts:
            raise FieldError("prompts", "prompts: at least one prompt is required")
        at_most("prompts", len(prompts), self.limits.max_prompts)
        if params.n > self.limits.max_n:
            raise FieldError("n", f"n: {params.n} is above the limit of {self.limits.max_n}")
        if params.max_new_tokens > self.max_new_tokens_limit:
            raise FieldError(
                "max_new_tokens",
                f"max_new_tokens: {params.max_new_tokens} is above the limit of "
                f"{self.max_new_tokens_limit}",
            )
        if params.thinking is not None and params.thinking.max_tokens > self.max_new_tokens_limit:
            raise FieldError(
                "thinking.max_tokens",
                f"thinking.max_tokens: {params.thinking.max_tokens} is above the limit of "
                f"{self.max_new_tokens_limit}",
            )
        rows = len(prompts) * params.n
        if rows > self.limits.max_batch_rows:
            raise FieldError(
                "n",
                f"n: {len(prompts)} prompts x n={params.n} is above the "
                f"{self.limits.max_batch_rows} rows one batch holds",
            )
        prompt_ids = self.sampler.validate(list(prompts), params)
        width, steps = max(len(ids) for ids in prompt_ids), self.sampler.max_steps(params)
        tokens = rows * self._positions(width, steps)
        if tokens > self.limits.max_batch_tokens:
            raise FieldError(
                "max_new_tokens",
                f"max_new_tokens: {rows} rows x ({width} prompt tokens + {steps} decoding "
                f"steps) = {tokens} tokens is above the {self.limits.max_batch_tokens} one "
                "batch holds; ask for fewer tokens, samples or prompts",
            )
        return prompt_ids

    def submit(self, prompts: Sequence[Prompt], params: SamplingParams) -> GenerationRequest:
        """Queue a request (validated first); read it with `.events()` or `.completions()`."""
        prompt_ids = self.check(prompts, params)
        if params.seed is None:  # a rerun after a failed batch must repeat the same samples
            params = replace(params, seed=secrets.randbits(63))
        grammar = params.grammar
        request = GenerationRequest(
            prompt_ids,  # the decoding loop neither tokenizes nor compiles: it is done here
            params,
            prompt_tokens=sum(len(ids) for ids in prompt_ids),
            width=max(len(ids) for ids in prompt_ids),
            steps=self.sampler.max_steps(params),
            grammars={} if grammar is None else {grammar: self.sampler.compile_grammar(grammar)},
        )
        self._enqueue(request)
        return request

    def _positions(self, width: int, steps: int) -> int:
        """KV-cache positions of one row: its prompt and its steps, within the context."""
        return min(width + steps, self.sampler.context_length)

    def score(
        self, items: Sequence[tuple[Prompt, str]], temperature: float = 1.0
    ) -> list[list[tuple[int, float]]]:
        """(token id, log-prob) of every continuation token given its prompt.

        The items run in chunks of at most `max_score_tokens` positions, each queued on its
        own; a full queue refuses the call at whichever chunk finds it full.
        """
        if not items:
            raise FieldError("items", "items: at least one item is required")
        at_most("items", len(items), self.limits.max_score_items)
        if not (math.isfinite(temperature) and temperature >= MIN_TEMPERATURE):
            raise FieldError(
                "temperature",
                f"temperature must be finite and >= {MIN_TEMPERATURE}, got {temperature}",
            )
        sequences = []
        for i, (prompt, continuation) in enumerate(items):
            prompt_ids = self.sampler.validate([prompt], SamplingParams())[0]
            if len(continuation) > self.sampler.max_prompt_chars:  # before tokenizing it
                raise FieldError(
                    "items",
                    f"items[{i}].continuation has {len(continuation)} characters, more than fit "
                    f"the context (at most {self.sampler.max_prompt_chars})",
                )
            ids = list(self.loaded.tokenizer.encode(continuation, add_special_tokens=False))
            if not ids:
                raise FieldError("items", f"items[{i}].continuation is empty")
            length = len(prompt_ids) + len(ids)
            limit = min(self.sampler.context_length, self.limits.max_score_tokens)
            if length > limit:
                raise FieldError(
                    "items",
                    f"items[{i}]: prompt + continuation are {length} tokens, above the {limit} "
                    "one item may have (the context length or the Score chunk size)",
                )
            sequences.append((prompt_ids, ids))
        return self.score_ids(sequences, temperature)

    def score_ids(
        self, sequences: Sequence[tuple[list[int], list[int]]], temperature: float = 1.0
    ) -> list[list[tuple[int, float]]]:
        """`score` of (prompt ids, continuation ids) pairs checked already (in the vocabulary,
        within the context and the Score chunk size): the OpenAI `echo` path scores a prompt's
        own tokens with it."""
        return self._chunked(sequences, lambda chunk: self._score(chunk, temperature))

    def score_top(
        self, sequences: Sequence[tuple[list[int], list[int]]], temperature: float, k: int
    ) -> list[list[tuple[int, float, list[tuple[int, float]]]]]:
        """`score_ids` with, for every continuation token, the `k` most likely tokens at its
        step ((id, log-prob), most likely first), in the same pass."""
        return self._chunked(sequences, lambda chunk: self._score_top(chunk, temperature, k))

    def _chunked(
        self,
        sequences: Sequence[tuple[list[int], list[int]]],
        function: Callable[[list[tuple[list[int], list[int]]]], list[T]],
    ) -> list[T]:
        """`function` over the sequences in Score chunks, each queued on its own."""
        scored: list[T] = []
        for chunk in self._score_chunks(list(sequences)):
            future: Future[list[T]] = Future()
            self._enqueue(_Call(lambda chunk=chunk: function(chunk), future))
            scored.extend(future.result())
        return scored

    def _score_chunks(
        self, sequences: list[tuple[list[int], list[int]]]
    ) -> Iterator[list[tuple[list[int], list[int]]]]:
        """Consecutive items whose padded positions (items x (longest prompt + longest
        continuation)) stay within `max_score_tokens`."""
        chunk: list[tuple[list[int], list[int]]] = []
        width = length = 0
        for prompt_ids, ids in sequences:
            grown_width, grown_length = max(width, len(prompt_ids)), max(length, len(ids))
            if chunk and (len(chunk) + 1) * (grown_width + grown_length) > (
                self.limits.max_score_tokens
            ):
                yield chunk
                chunk, grown_width, grown_length = [], len(prompt_ids), len(ids)
            chunk.append((prompt_ids, ids))
            width, length = grown_width, grown_length
        yield chunk

    def _enqueue(self, item: GenerationRequest | _Call) -> None:
        if self._closed:
            raise EngineClosedError("the server is shutting down")
        try:
            self._waiting.put_nowait(item)
        except queue.Full:
            raise QueueFullError(
                f"{self.limits.max_queue} requests are already waiting; retry later"
            ) from None

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        if not self._closed:
            self._closed = True
            self._waiting.put(None)
            self._worker.join()

    # ---- the worker ---------------------------------------------------------------------

    def _loop(self) -> None:
        """Steps the running batch; between steps, waiting requests join it in arrival order
        and Score chunks run."""
        batch = self._batch()
        live: dict[int, GenerationRequest] = {}  # id -> a request with rows in the batch
        closing = False
        while True:
            if not closing:
                closing = self._admit(batch, live)
            if not batch.busy:
                if closing:
                    return
                continue
            try:
                batch.forward()  # the joiners' prompts ride in the running rows' pass
                self._fail_joiners(batch, live)
                events, done = batch.decide()
            except Exception as error:
                batch = self._isolate(batch, live, error)
                continue
            self._deliver(events, done, live)

    def _batch(self) -> RunningBatch:
        return RunningBatch(self.sampler, max_prefill_tokens=self.limits.max_prefill_tokens)

    def _admit(self, batch: RunningBatch, live: dict[int, GenerationRequest]) -> bool:
        """Join the waiting requests that fit, in arrival order: the first that does not fit
        stays at the head of the line, and all behind it wait too. Waits for work when the
        batch is empty. Returns True once the engine is closing."""
        joining: list[GenerationRequest] = []
        rows = sum(r.rows for r in live.values())
        positions = max((self._request_positions(r) for r in live.values()), default=0)
        prefill_tokens = 0
        while True:
            if not joining and not batch.busy:
                item = self._waiting.get()  # nothing to decode: wait for work
            else:
                with self._waiting.mutex:  # this thread alone takes: the head stays the head
                    if not self._waiting.queue:
                        break
                    item = self._waiting.queue[0]
                if isinstance(item, GenerationRequest) and not item.cancelled:
                    grown_rows = rows + item.rows
                    grown_positions = max(positions, self._request_positions(item))
                    fits = (
                        batch.joinable  # no chunked prefill under way
                        and grown_rows <= self.limits.max_batch_rows
                        and max(batch.slots, grown_rows) * grown_positions
                        <= self.limits.max_batch_tokens
                        and (
                            not joining  # a long prompt joins alone
                            or prefill_tokens + item.prompt_tokens <= self.limits.max_prefill_tokens
                        )
                    )
                    if not fits:
                        break
                self._waiting.get_nowait()
            if item is None:
                self._join(batch, joining, live)
                return True
            if isinstance(item, _Call):
                self._run_call(item)  # between two steps
                continue
            if item.cancelled:
                item._events.put(_END)
                continue
            joining.append(item)
            rows += item.rows
            positions = max(positions, self._request_positions(item))
            prefill_tokens += item.prompt_tokens
        self._join(batch, joining, live)
        return False

    def _request_positions(self, request: GenerationRequest) -> int:
        return self._positions(request.width, request.steps)

    def _join(
        self,
        batch: RunningBatch,
        joining: list[GenerationRequest],
        live: dict[int, GenerationRequest],
    ) -> None:
        """Add the joiners together; if that fails, each alone, so that only the one at fault
        gets the error (a failing prompt is found by the batch itself: `_fail_joiners`)."""
        if not joining:
            return
        self.batches += 1
        try:
            batch.add([self._joining(r) for r in joining])
        except Exception as error:
            logger.warning("prefilling %d joining request(s) failed: %r", len(joining), error)
            if len(joining) == 1:
                self._fail(joining[0], error)
                return
            for request in joining:
                self._join(batch, [request], live)
            return
        for request in joining:
            live[id(request)] = request
        self.running = len(live)

    @staticmethod
    def _joining(request: GenerationRequest) -> Joining:
        return Joining(
            request.prompts,
            request.params,
            owner=request,
            cancelled=lambda _: request.cancelled,
            grammars=request.grammars,
        )

    def _deliver(
        self,
        events: list[tuple[Any, StreamEvent]],
        done: list[Any],
        live: dict[int, GenerationRequest],
    ) -> None:
        for request, event in events:
            unsent = request._delivery.unsent(event)
            if unsent is not None:
                request._events.put(unsent)
        for request in done:
            live.pop(id(request), None)
            self.served += 1  # before its caller can see the end
            request._events.put(_END)
        self.running = len(live)

    def _fail_joiners(self, batch: RunningBatch, live: dict[int, GenerationRequest]) -> None:
        """Joining requests whose prompts failed alone (the batch retried each) get the error."""
        for request, error in batch.take_failed():
            logger.warning("a joining request failed: %r", error)
            live.pop(id(request), None)
            self._fail(request, error)
        self.running = len(live)

    def _fail(self, request: GenerationRequest, error: Exception) -> None:
        self.served += 1
        request._events.put(error)
        request._events.put(_END)

    def _isolate(
        self, batch: RunningBatch, live: dict[int, GenerationRequest], error: Exception
    ) -> RunningBatch:
        """A step failed: no request fails for its neighbours. Each request of the batch is
        decoded again alone (a stream sends only what it had not sent), so only the one at
        fault gets the error; returns a fresh, empty batch."""
        logger.warning("a step of %d request(s) failed: %r", len(live), error)
        requests = list(live.values())
        live.clear()
        if len(requests) == 1:
            self._fail(requests[0], error)
        else:
            for request in requests:
                if request.cancelled:
                    request._events.put(_END)
                    continue
                request._delivery.new_attempt()
                self._solo(request)
        self.running = 0
        return self._batch()

    def _solo(self, request: GenerationRequest) -> None:
        """Decode one request in a batch of its own, to its end or its error."""
        alone: dict[int, GenerationRequest] = {}
        batch = self._batch()
        self._join(batch, [request], alone)
        try:
            while batch.busy:
                batch.forward()
                self._fail_joiners(batch, alone)
                events, done = batch.decide()
                self._deliver(events, done, alone)
        except Exception as error:
            self._fail(request, error)

    @staticmethod
    def _run_call(call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            call.future.set_result(call.function())
        except Exception as error:  # re-raised in the caller's thread
            call.future.set_exception(error)

    @torch.inference_mode()
    def _score(
        self, sequences: list[tuple[list[int], list[int]]], temperature: float
    ) -> list[list[tuple[int, float]]]:
        log_probs = completion_log_probs(self.loaded.model, _as_completions(sequences, temperature))
        return [
            list(zip(ids, lp.tolist(), strict=True))
            for (_, ids), lp in zip(sequences, log_probs, strict=True)
        ]

    @torch.inference_mode()
    def _score_top(
        self, sequences: list[tuple[list[int], list[int]]], temperature: float, k: int
    ) -> list[list[tuple[int, float, list[tuple[int, float]]]]]:
        completions = _as_completions(sequences, temperature)
        results = []
        for (_, ids), (chosen, values, indices) in zip(
            sequences, top_log_probs(self.loaded.model, completions, k), strict=True
        ):
            tops = [
                list(zip(i, v, strict=True))
                for i, v in zip(indices.tolist(), values.tolist(), strict=True)
            ]
            results.append(list(zip(ids, chosen.tolist(), tops, strict=True)))
        return results


def _as_completions(
    sequences: list[tuple[list[int], list[int]]], temperature: float
) -> list[Completion]:
    """(prompt ids, continuation ids) as the completions teacher forcing scores."""
    return [
        Completion(
            prompt_index=i,
            sample_index=0,
            prompt_ids=prompt_ids,
            token_ids=ids,
            text="",
            finish_reason="stop",
            answer_temperature=temperature,
            step_log_probs=torch.zeros(0, dtype=torch.float64),
        )
        for i, (prompt_ids, ids) in enumerate(sequences)
    ]
