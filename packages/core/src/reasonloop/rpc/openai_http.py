"""An OpenAI-compatible HTTP API over the batching engine: `/v1/models`, `/v1/completions` and
`/v1/chat/completions`, streamed or not, plus vLLM's `/health`, `/version`, `/tokenize` and
`/detokenize`.

Most LLM tooling (the `openai` SDKs, eval harnesses, agent frameworks) speaks OpenAI's wire
format, so serving it lets that tooling use a reasonloop model without a reasonloop client. The
gRPC service stays the complete contract; this front end maps OpenAI's fields onto
`SamplingParams` (request bodies: `openai_bodies`), with a few extensions: `thinking` (the
chain-of-thought mode; its text comes back as `reasoning_content`, as vLLM does) and vLLM's
`top_k`, `min_p`, `repetition_penalty` and `ignore_eos`. Log-probs come with their top
alternatives (streamed chunk by chunk); completions' `echo` returns the prompt with its tokens'
log-probs, scored by the engine's Score path (`echo` with `max_tokens` 0 is lm-eval's
log-likelihood request). Fields it does not know are logged and ignored, as vLLM does, or
refused with a 400 naming them when the server is strict.

The engine is blocking (one thread owns the model), so handlers wait on it in worker threads
and the event loop stays free; a client that disconnects cancels its request, whose rows then
leave the running batch. Errors use OpenAI's format, so clients raise their usual exceptions.

Hostile input is refused before it costs anything: a body over `MAX_REQUEST_BYTES` gets a 413
before it is parsed, every field is range-checked (finite floats, token ids in the vocabulary)
before the request reaches a batch, and error messages quote what was sent only in part.
Given the gRPC server's certificate and key, the port speaks HTTPS only.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from reasonloop.extras import requires

with requires("http"):
    import anyio
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reasonloop.limits import MAX_REQUEST_BYTES, SHOWN_CHARS, clipped, shown
from reasonloop.rpc.engine import (
    EngineClosedError,
    GenerationRequest,
    InferenceEngine,
    QueueFullError,
)
from reasonloop.rpc.hosting import check_tls_pair
from reasonloop.rpc.openai_bodies import (
    ChatBody,
    CompletionBody,
    DetokenizeBody,
    TokenizeBody,
    unknown_fields,
)
from reasonloop.sampling.decoder import Completion, StreamEvent
from reasonloop.sampling.params import Prompt, SamplingParams

logger = logging.getLogger(__name__)

T = TypeVar("T")

# ---- errors ---------------------------------------------------------------------------------


class APIError(Exception):
    """An error answered as OpenAI does: `{"error": {message, type, param, code}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.param, self.code, self.headers = param, code, headers

    def response(self) -> JSONResponse:
        body = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return JSONResponse({"error": body}, status_code=self.status, headers=self.headers)


_SAMPLING_PARAMS = {
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "n",
    "stop",
    "seed",
    "thinking",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "logit_bias",
}


def _bad_request(error: ValueError, prompt_param: str) -> APIError:
    """A 400 from the core's ValueError, whose message starts with the field's core name."""
    message = clipped(str(error))
    head = re.match(r"[a-z_]+(\.[a-z_]+)*", message)
    path = head.group() if head else ""
    name = path.split(".")[0]
    param: str | None = path if name in _SAMPLING_PARAMS else None
    if name in ("prompt", "prompts"):
        param = prompt_param
    elif name == "max_new_tokens":
        param, message = "max_tokens", "max_tokens" + message[len(name) :]
    elif name == "top_logprobs":
        param = "logprobs" if prompt_param == "prompt" else name
    elif name == "grammar" or message.startswith("invalid json_schema"):
        param = "response_format"
    return APIError(400, message, param=param)


async def _validation_error(_: Request, error: RequestValidationError) -> Response:
    problems = [
        ("" if e["type"] == "json_invalid" else ".".join(str(p) for p in e["loc"][1:]), e["msg"])
        for e in error.errors()  # locations start with "body"
    ]
    message = "; ".join(f"{where or 'body'}: {why}" for where, why in problems)
    param = problems[0][0][:SHOWN_CHARS] or None  # a location may hold a key the client made up
    return APIError(400, clipped(message), param=param).response()


async def _http_error(_: Request, error: StarletteHTTPException) -> Response:
    return APIError(error.status_code, clipped(str(error.detail)), headers=error.headers).response()


async def _api_error(_: Request, error: APIError) -> Response:
    return error.response()


async def _server_error(_: Request, error: Exception) -> Response:
    return APIError(500, clipped(f"internal error: {error!r}"), kind="server_error").response()


class _BodyLimit:
    """Reads a request's body up to `limit` bytes and refuses a larger one with 413 before
    any of it is parsed (the declared Content-Length is checked before reading at all)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if len(declared) > 12 or int(declared) > self.limit:  # h11 admits digits only
            await self._too_large(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left while sending
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:  # the body once, then the client's own events
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = APIError(
            413,
            f"the request body is larger than {self.limit} bytes",
            code="request_too_large",
            headers={"Connection": "close"},
        )
        await error.response()(scope, receive, send)


class _BearerAuth:
    """Refuses every request that lacks `Authorization: Bearer <token>` (before reading it),
    except the probes `/health` and `/version`, which read nothing."""

    OPEN = ("/health", "/version")

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.OPEN:
            sent = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(sent, self._expected):
                error = APIError(
                    401,
                    "missing or wrong API key: send `Authorization: Bearer <token>`",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ---- responses ------------------------------------------------------------------------------


def _usage(job: GenerationRequest, completions: list[Completion]) -> dict[str, int]:
    decoded = sum(c.decoded_tokens for c in completions)
    return {
        "prompt_tokens": job.prompt_tokens,
        "completion_tokens": decoded,
        "total_tokens": job.prompt_tokens + decoded,
    }


class _Texts:
    """Token texts, as log-prob answers show them (each token decoded alone)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, token: int) -> str:
        return self.tokenizer.decode([token])


def _text_logprobs(
    texts: _Texts,
    token_ids: list[int],
    logprobs: list[float | None],
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


def _chat_logprobs(
    texts: _Texts,
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


def _header(kind: str, model: str) -> dict[str, Any]:
    prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
    }


def _sse(chunks: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
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


# ---- the app --------------------------------------------------------------------------------


@dataclass
class _Echo:
    """An echoed prompt: its tokens, their log-probs (None for the first) and alternatives
    (empty when not asked)."""

    ids: list[int]
    logprobs: list[float | None]
    top_logprobs: list[list[tuple[int, float]]]


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
        return completions


def create_app(
    engine: InferenceEngine, *, auth_token: str | None = None, strict: bool = False
) -> FastAPI:
    """The OpenAI-compatible API for `engine`; with `auth_token`, every request needs it;
    `strict` refuses fields it does not know (by default they are logged and ignored)."""
    app = FastAPI(title="reasonloop (OpenAI-compatible)")
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(Exception, _server_error)
    app.add_middleware(_BodyLimit, limit=MAX_REQUEST_BYTES)
    if auth_token:  # added last, so it runs first: no body is read for a refused request
        app.add_middleware(_BearerAuth, token=auth_token)
    waiter = _Waiter(engine)
    tokenizer = engine.loaded.tokenizer
    texts = _Texts(tokenizer)

    def check_model(model: str) -> None:
        if model != engine.name:
            raise APIError(
                404,
                f"The model {shown(model)} does not exist; this server serves `{engine.name}`",
                param="model",
                code="model_not_found",
            )

    def check_fields(body: Any, path: str) -> None:
        """Refuse (strict) or log the fields no body declares."""
        names = unknown_fields(body)
        if not names:
            return
        unknown = [shown(name) for name in names[:10]]
        listed = ", ".join(unknown) + (f" and {len(names) - 10} more" if names[10:] else "")
        if strict:
            raise APIError(400, clipped(f"unknown fields: {listed}"), param=names[0][:SHOWN_CHARS])
        logger.warning("%s: ignoring unknown fields %s", path, listed)

    async def submit(
        prompts: list[Prompt], params: Callable[[], SamplingParams], prompt_param: str
    ) -> GenerationRequest:
        return await engine_call(lambda: engine.submit(prompts, params()), prompt_param)

    async def engine_call(function: Callable[[], T], prompt_param: str = "prompt") -> T:
        try:
            return await run_in_threadpool(function)
        except ValueError as error:
            raise _bad_request(error, prompt_param) from None
        except QueueFullError as error:
            raise APIError(
                429,
                str(error),
                kind="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1"},
            ) from None
        except EngineClosedError as error:
            raise APIError(503, str(error), kind="server_error") from None

    async def echo(prompts: list[Prompt], params: SamplingParams, logprobs: bool) -> list[_Echo]:
        """Each prompt's token ids and, when asked, their log-probs (None for the first: no
        token predicts it) and top alternatives, from the engine's Score path."""
        prompt_ids = await engine_call(lambda: engine.check(prompts, params))
        if not logprobs:
            return [_Echo(ids, [], []) for ids in prompt_ids]
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
            await engine_call(lambda: engine.score_top(items, temperature, k)) if items else []
        )
        echoed = []
        for ids in prompt_ids:
            tokens = next(scored) if len(ids) > 1 else []
            lps: list[float | None] = [None, *(lp for _, lp, _ in tokens)]
            echoed.append(_Echo(ids, lps, [[], *(top for _, _, top in tokens)]))
        return echoed

    def model_card() -> dict[str, Any]:
        return {"id": engine.name, "object": "model", "created": 0, "owned_by": "reasonloop"}

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/version")
    async def server_version() -> dict[str, str]:
        return {"version": version("reasonloop-core")}

    @app.post("/tokenize")
    async def tokenize(body: TokenizeBody) -> dict[str, Any]:
        check_fields(body, "/tokenize")
        if body.model is not None:
            check_model(body.model)
        sampler = engine.sampler
        if body.prompt is not None:
            text = body.prompt
            if len(text) > sampler.max_prompt_chars:
                raise APIError(
                    400,
                    f"prompt has {len(text)} characters, more than fit the context "
                    f"(at most {sampler.max_prompt_chars})",
                    param="prompt",
                )
            special = body.add_special_tokens
            ids = await run_in_threadpool(
                lambda: list(tokenizer.encode(text, add_special_tokens=special))
            )
        else:
            messages = [m.as_prompt_message() for m in body.messages or []]
            chars = sum(len(m["content"]) for m in messages)
            if chars > sampler.max_prompt_chars:
                raise APIError(
                    400,
                    f"messages have {chars} characters, more than fit the context "
                    f"(at most {sampler.max_prompt_chars})",
                    param="messages",
                )
            ids = await run_in_threadpool(lambda: sampler.encode(messages))
        return {"count": len(ids), "max_model_len": sampler.context_length, "tokens": ids}

    @app.post("/detokenize")
    async def detokenize(body: DetokenizeBody) -> dict[str, str]:
        check_fields(body, "/detokenize")
        if body.model is not None:
            check_model(body.model)
        limit = engine.sampler.context_length
        if len(body.tokens) > limit:
            raise APIError(
                400, f"tokens: {len(body.tokens)} tokens, the limit is {limit}", param="tokens"
            )
        vocab = engine.loaded.model.get_input_embeddings().num_embeddings
        outside = next((i for i, t in enumerate(body.tokens) if not 0 <= t < vocab), None)
        if outside is not None:
            raise APIError(
                400,
                f"tokens[{outside}]: {shown(body.tokens[outside])} is not in the vocabulary "
                f"(0..{vocab - 1})",
                param="tokens",
            )
        return {"prompt": await run_in_threadpool(lambda: tokenizer.decode(body.tokens))}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model:path}")
    async def get_model(model: str) -> dict[str, Any]:
        check_model(model)
        return model_card()

    @app.post("/v1/completions")
    async def completions(body: CompletionBody, http: Request) -> Response:
        check_fields(body, "/v1/completions")
        check_model(body.model)
        prompts = body.prompts()
        logprobs = body.logprobs is not None
        header = _header("text_completion", engine.name)
        echoed: list[_Echo] = []
        if body.echo:
            params = await engine_call(body.params)
            echoed = await echo(prompts, params, logprobs)

        def echo_text(prompt_index: int) -> str:
            prompt = prompts[prompt_index]
            return prompt if isinstance(prompt, str) else tokenizer.decode(echoed[prompt_index].ids)

        def echo_logprobs(prompt_index: int) -> dict[str, Any] | None:
            if not logprobs:
                return None
            prompt = echoed[prompt_index]
            return _text_logprobs(texts, prompt.ids, prompt.logprobs, prompt.top_logprobs)

        if not body.generates:
            choices = [
                {
                    "index": i,
                    "text": echo_text(i),
                    "logprobs": echo_logprobs(i),
                    "finish_reason": "length",
                }
                for i in range(len(prompts))
            ]
            prompt_tokens = sum(len(prompt.ids) for prompt in echoed)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 0}
            return JSONResponse(
                {**header, "choices": choices, "usage": usage | {"total_tokens": prompt_tokens}}
            )
        job = await submit(prompts, body.params, "prompt")
        n = job.params.n

        def joined(prompt_index: int, part: dict[str, Any] | None) -> dict[str, Any] | None:
            """Log-probs after the echoed prompt's (when echoed)."""
            if not body.echo or part is None:
                return part
            head = echo_logprobs(prompt_index)
            assert head is not None
            shift = len(echo_text(prompt_index))
            part["text_offset"] = [o + shift for o in part["text_offset"]]
            return {key: head[key] + part[key] for key in head}

        def choice(c: Completion) -> dict[str, Any]:
            lps = None
            if logprobs:
                lps = _text_logprobs(texts, c.token_ids, c.token_logprobs or [], c.top_logprobs)
            return {
                "index": c.prompt_index * n + c.sample_index,
                "text": (echo_text(c.prompt_index) if body.echo else "") + c.text,
                "logprobs": joined(c.prompt_index, lps),
                "finish_reason": c.finish_reason,
            }

        if not body.stream:
            done = await waiter.completions(job, http)
            return JSONResponse(
                {**header, "choices": [choice(c) for c in done], "usage": _usage(job, done)}
            )

        async def chunks() -> AsyncIterator[dict[str, Any]]:
            done = []
            offsets = {}  # per choice, text_offset's next value (as in a whole answer)
            if body.echo:
                for index in range(len(prompts) * n):
                    text = echo_text(index // n)
                    offsets[index] = len(text)
                    delta = {"index": index, "text": text, "finish_reason": None}
                    yield {**header, "choices": [delta | {"logprobs": echo_logprobs(index // n)}]}
            async for event in waiter.events(job):
                index = event.prompt_index * n + event.sample_index
                delta = {
                    "index": index,
                    "text": event.text_delta,
                    "logprobs": None,
                    "finish_reason": None,
                }
                if logprobs:
                    offset = offsets.get(index, 0)
                    tops = event.top_logprobs if job.params.top_logprobs else None
                    lps = _text_logprobs(
                        texts, event.token_ids, list(event.token_logprobs), tops, offset
                    )
                    delta["logprobs"] = lps
                    offsets[index] = offset + sum(len(token) for token in lps["tokens"])
                if event.completion is not None:
                    done.append(event.completion)
                    delta["finish_reason"] = event.completion.finish_reason
                yield {**header, "choices": [delta]}
            if body.include_usage:
                yield {**header, "choices": [], "usage": _usage(job, done)}

        return _sse(chunks())

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatBody, http: Request) -> Response:
        check_fields(body, "/v1/chat/completions")
        check_model(body.model)
        messages: list[Prompt] = [[m.as_prompt_message() for m in body.messages]]
        job = await submit(messages, lambda: body.params(engine.max_new_tokens_limit), "messages")
        header = _header("chat.completion", engine.name)

        def logprobs(c: Completion) -> dict[str, Any] | None:
            if not body.logprobs:
                return None
            return _chat_logprobs(texts, c.token_ids, c.token_logprobs or [], c.top_logprobs)

        if not body.stream:
            done = await waiter.completions(job, http)
            choices = []
            for c in done:
                message = {"role": "assistant", "content": c.text}
                if c.thinking is not None:
                    message["reasoning_content"] = c.thinking.text
                choices.append(
                    {
                        "index": c.sample_index,
                        "message": message,
                        "logprobs": logprobs(c),
                        "finish_reason": c.finish_reason,
                    }
                )
            return JSONResponse({**header, "choices": choices, "usage": _usage(job, done)})

        header["object"] = "chat.completion.chunk"

        def chunk(index: int, delta: dict[str, str], **extra: Any) -> dict[str, Any]:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
            return {**header, "choices": [choice | extra]}

        async def chunks() -> AsyncIterator[dict[str, Any]]:
            for index in range(job.params.n):
                yield chunk(index, {"role": "assistant", "content": ""})
            done = []
            async for event in waiter.events(job):
                delta = {}
                if event.thinking_delta:
                    delta["reasoning_content"] = event.thinking_delta
                if event.text_delta:
                    delta["content"] = event.text_delta
                extra: dict[str, Any] = {}
                if body.logprobs and event.token_ids:
                    tops = event.top_logprobs if job.params.top_logprobs else None
                    extra["logprobs"] = _chat_logprobs(
                        texts, event.token_ids, event.token_logprobs, tops
                    )
                if event.completion is not None:
                    done.append(event.completion)
                    extra["finish_reason"] = event.completion.finish_reason
                yield chunk(event.sample_index, delta, **extra)
            if body.include_usage:
                yield {**header, "choices": [], "usage": _usage(job, done)}

        return _sse(chunks())

    return app


# ---- serving --------------------------------------------------------------------------------


class OpenAIServer:
    """A running OpenAI-compatible server (see `start_openai_server`); `port` is the bound one."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int, tls: bool
    ) -> None:
        self._server, self._thread = server, thread
        self.host, self.port, self.tls = host, port, tls

    @property
    def url(self) -> str:
        """The API's base URL, as OpenAI clients take it (`.../v1`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/v1"

    def stop(self) -> None:
        """Stop accepting connections and finish in-flight requests (up to the grace period).

        The engine stays open: a gRPC server may share it.
        """
        self._server.should_exit = True
        self._thread.join()

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_openai_server(
    engine: InferenceEngine,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    auth_token: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    grace_s: float = 30.0,
    strict: bool = False,
) -> OpenAIServer:
    """Serve `create_app(engine)` with uvicorn on a background thread; returns once it listens.

    Port 0 picks a free port. With `tls_cert` and `tls_key` (PEM, as the gRPC server takes
    them) it speaks HTTPS only; `strict` refuses unknown fields (see `create_app`). Raises
    OSError when the address cannot be bound, ValueError when the certificate and key do not
    load together (checked here, not in the server thread).
    """
    check_tls_pair(tls_cert, tls_key)
    tls: dict[str, Any] = {}
    if tls_cert is not None and tls_key is not None:
        tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    config = uvicorn.Config(
        create_app(engine, auth_token=auth_token, strict=strict),
        lifespan="off",
        log_config=None,  # leave the process' logging to the application
        timeout_graceful_shutdown=grace_s,
        **tls,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="openai-http", daemon=True
    )
    thread.start()
    running = OpenAIServer(server, thread, host, sock.getsockname()[1], bool(tls))
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the OpenAI-compatible server on {running.url} failed to start")
        time.sleep(0.01)
    return running
