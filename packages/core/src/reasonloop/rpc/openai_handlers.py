"""The OpenAI-compatible endpoints' work for one engine: check a request, hand it to the
engine, wait for it without blocking the event loop, and shape the answer (`openai_format`).

The engine is blocking (one thread owns the model), so handlers wait on it in worker threads
and the event loop stays free; a client that disconnects cancels its request, whose rows then
leave the running batch. Every field is range-checked (finite floats, token ids in the
vocabulary) before the request reaches a batch; what the engine refuses maps to an error by
its type (`openai_errors.engine_error`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from importlib.metadata import version
from typing import Any, TypeVar

from reasonloop.extras import requires

with requires("http"):
    import anyio
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

from reasonloop.limits import SHOWN_CHARS, clipped, shown
from reasonloop.rpc.engine import GenerationRequest, InferenceEngine
from reasonloop.rpc.openai_bodies import (
    ChatBody,
    CompletionBody,
    DetokenizeBody,
    TokenizeBody,
    unknown_fields,
)
from reasonloop.rpc.openai_errors import APIError, engine_error
from reasonloop.rpc.openai_format import (
    ChatAnswer,
    CompletionAnswer,
    Echo,
    TokenTexts,
    header,
    sse,
)
from reasonloop.sampling.decoder import Completion, StreamEvent
from reasonloop.sampling.params import Prompt, SamplingParams

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _Waiter:
    """Waits on engine requests from the event loop, one worker thread per waiting request."""

    def __init__(self, engine: InferenceEngine) -> None:
        # Enough threads for every request the engine can hold (waiting or decoding), so that
        # the thread pool never throttles batching.
        self._limiter = anyio.CapacityLimiter(
            engine.limits.max_queue + engine.limits.max_batch_rows
        )

    async def call(self, function: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(
            function, limiter=self._limiter, abandon_on_cancel=True
        )

    async def events(self, job: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """The job's events; the job is cancelled if the consumer stops early (client gone)."""
        events = job.events()
        finished = False
        try:
            while (event := await self.call(lambda: next(events, None))) is not None:
                yield event
            finished = True
        finally:
            if not finished:
                job.cancel()

    async def completions(self, job: GenerationRequest, http: Request) -> list[Completion]:
        """The job's completions; the job is cancelled if the client disconnects first."""

        async def cancel_on_disconnect() -> None:
            while (await http.receive())["type"] != "http.disconnect":
                pass
            job.cancel()

        completions: list[Completion] | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(cancel_on_disconnect)
                completions = await self.call(job.completions)
                group.cancel_scope.cancel()
        finally:
            if completions is None:  # this handler was cancelled (the server is stopping)
                job.cancel()
        if completions is None:  # the task group ended without raising: a bug, not a request's
            raise RuntimeError("the completions' task group ended without them")
        return completions


class OpenAIHandlers:
    """The endpoints of the OpenAI-compatible API over `engine`; `strict` refuses fields no
    body declares (by default they are logged and ignored)."""

    def __init__(self, engine: InferenceEngine, *, strict: bool = False) -> None:
        self.engine, self.strict = engine, strict
        self._waiter = _Waiter(engine)
        self._tokenizer = engine.loaded.tokenizer
        self._texts = TokenTexts(self._tokenizer)

    # ---- probes and models ---------------------------------------------------------------

    async def health(self) -> Response:
        return Response(status_code=200)

    async def server_version(self) -> dict[str, str]:
        return {"version": version("reasonloop-core")}

    async def list_models(self) -> dict[str, Any]:
        return {"object": "list", "data": [self._model_card()]}

    async def get_model(self, model: str) -> dict[str, Any]:
        self._check_model(model)
        return self._model_card()

    # ---- tokens ----------------------------------------------------------------------------

    async def tokenize(self, body: TokenizeBody) -> dict[str, Any]:
        self._check_body(body, "/tokenize")
        sampler = self.engine.sampler
        if body.prompt is not None:
            text, special = body.prompt, body.add_special_tokens
            self._check_chars(len(text), "prompt has", "prompt")
            ids = await run_in_threadpool(
                lambda: list(self._tokenizer.encode(text, add_special_tokens=special))
            )
        else:
            messages = [m.as_prompt_message() for m in body.messages or []]
            chars = sum(len(m["content"]) for m in messages)
            self._check_chars(chars, "messages have", "messages")
            ids = await run_in_threadpool(lambda: sampler.encode(messages))
        return {"count": len(ids), "max_model_len": sampler.context_length, "tokens": ids}

    async def detokenize(self, body: DetokenizeBody) -> dict[str, str]:
        self._check_body(body, "/detokenize")
        limit = self.engine.sampler.context_length
        if len(body.tokens) > limit:
            raise APIError(
                400, f"tokens: {len(body.tokens)} tokens, the limit is {limit}", param="tokens"
            )
        vocab = self.engine.sampler.vocab_size
        outside = next((i for i, t in enumerate(body.tokens) if not 0 <= t < vocab), None)
        if outside is not None:
            raise APIError(
                400,
                f"tokens[{outside}]: {shown(body.tokens[outside])} is not in the vocabulary "
                f"(0..{vocab - 1})",
                param="tokens",
            )
        return {"prompt": await run_in_threadpool(lambda: self._tokenizer.decode(body.tokens))}

    # ---- generation ------------------------------------------------------------------------

    async def completions(self, body: CompletionBody, http: Request) -> Response:
        self._check_body(body, "/v1/completions")
        self._check_model(body.model)
        prompts = body.prompts()
        logprobs = body.logprobs is not None
        echoed: list[Echo] = []
        if body.echo:
            params = await self._engine_call(body.params)
            echoed = await self._echo(prompts, params, logprobs)
        answer = CompletionAnswer(
            self._texts,
            header("text_completion", self.engine.name),
            prompts,
            body.echo,
            echoed,
            logprobs,
        )
        if not body.generates:
            return JSONResponse(answer.echo_only())
        job = await self._submit(prompts, body.params, "prompt")
        if not body.stream:
            return JSONResponse(answer.whole(job, await self._waiter.completions(job, http)))
        return sse(answer.chunks(job, self._waiter.events(job), body.include_usage))

    async def chat_completions(self, body: ChatBody, http: Request) -> Response:
        self._check_body(body, "/v1/chat/completions")
        self._check_model(body.model)
        messages: list[Prompt] = [[m.as_prompt_message() for m in body.messages]]
        params = partial(body.params, self.engine.max_new_tokens_limit)
        job = await self._submit(messages, params, "messages")
        answer = ChatAnswer(self._texts, header("chat.completion", self.engine.name), body.logprobs)
        if not body.stream:
            return JSONResponse(answer.whole(job, await self._waiter.completions(job, http)))
        return sse(answer.chunks(job, self._waiter.events(job), body.include_usage))

    # ---- checks and the engine ---------------------------------------------------------------

    def _model_card(self) -> dict[str, Any]:
        return {"id": self.engine.name, "object": "model", "created": 0, "owned_by": "reasonloop"}

    def _check_model(self, model: str) -> None:
        if model != self.engine.name:
            raise APIError(
                404,
                f"The model {shown(model)} does not exist; this server serves `{self.engine.name}`",
                param="model",
                code="model_not_found",
            )

    def _check_body(
        self, body: TokenizeBody | DetokenizeBody | CompletionBody | ChatBody, path: str
    ) -> None:
        """A token endpoint's body: its fields (see `_check_fields`) and its model if named."""
        self._check_fields(body, path)
        if body.model is not None:
            self._check_model(body.model)

    def _check_fields(self, body: Any, path: str) -> None:
        """Refuse (strict) or log the fields no body declares."""
        names = unknown_fields(body)
        if not names:
            return
        unknown = [shown(name) for name in names[:10]]
        listed = ", ".join(unknown) + (f" and {len(names) - 10} more" if names[10:] else "")
        if self.strict:
            raise APIError(400, clipped(f"unknown fields: {listed}"), param=names[0][:SHOWN_CHARS])
        logger.warning("%s: ignoring unknown fields %s", path, listed)

    def _check_chars(self, chars: int, what: str, param: str) -> None:
        """A text to tokenize is no longer than what fits the context."""
        limit = self.engine.sampler.max_prompt_chars
        if chars > limit:
            raise APIError(
                400,
                f"{what} {chars} characters, more than fit the context (at most {limit})",
                param=param,
            )

    async def _submit(
        self, prompts: list[Prompt], params: Callable[[], SamplingParams], prompt_param: str
    ) -> GenerationRequest:
        return await self._engine_call(lambda: self.engine.submit(prompts, params()), prompt_param)

    async def _engine_call(self, function: Callable[[], T], prompt_param: str = "prompt") -> T:
        try:
            return await run_in_threadpool(function)
        except Exception as error:
            answer = engine_error(error, prompt_param)
            if answer is None:
                raise
            raise answer from None

    async def _echo(
        self, prompts: list[Prompt], params: SamplingParams, logprobs: bool
    ) -> list[Echo]:
        """Each prompt's token ids and, when asked, their log-probs (None for the first: no
        token predicts it) and top alternatives, from the engine's Score path."""
        engine = self.engine
        prompt_ids = await self._engine_call(lambda: engine.check(prompts, params))
        if not logprobs:
            return [Echo(ids, [], []) for ids in prompt_ids]
        limit = engine.limits.max_score_tokens
        for i, ids in enumerate(prompt_ids):
            if len(ids) > limit:
                raise APIError(
                    400,
                    f"prompt {i} has {len(ids)} tokens; echo with logprobs scores at most {limit}",
                    param="prompt",
                )
        scored_ids = [ids for ids in prompt_ids if len(ids) > 1]
        temperature = params.temperature if params.temperature > 0 else 1.0
        items = [(ids[:1], ids[1:]) for ids in scored_ids]
        k = params.top_logprobs
        scored = iter(
            await self._engine_call(lambda: engine.score_top(items, temperature, k))
            if items
            else []
        )
        echoed = []
        for ids in prompt_ids:
            tokens = next(scored) if len(ids) > 1 else []
            lps: list[float | None] = [None, *(lp for _, lp, _ in tokens)]
            echoed.append(Echo(ids, lps, [[], *(top for _, _, top in tokens)]))
        return echoed
