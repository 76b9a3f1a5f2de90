"""An OpenAI-compatible HTTP API over the batching engine: `/v1/models`, `/v1/completions` and
`/v1/chat/completions`, streamed or not.

Most LLM tooling (the `openai` SDKs, eval harnesses, agent frameworks) speaks OpenAI's wire
format, so serving it lets that tooling use a reasonloop model without a reasonloop client. The
gRPC service stays the complete contract; this front end maps OpenAI's fields onto
`SamplingParams`, with a few extensions: `thinking` (the chain-of-thought mode; its text comes
back as `reasoning_content`, as vLLM does) and vLLM's `top_k`, `min_p` and `ignore_eos`. Fields
it does not implement are refused with a 400 rather than silently ignored.

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
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
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
from reasonloop.sampling import Completion, Grammar, SamplingParams, StreamEvent, ThinkingConfig
from reasonloop.sampling.decoder import Prompt

logger = logging.getLogger(__name__)

T = TypeVar("T")

# ---- request bodies -------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Strict):
    include_usage: bool = False  # a last chunk, with no choices, carries the usage


class _GenerationBody(_Strict):
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
    top_k: int | None = None  # extensions, as vLLM names them
    min_p: float | None = None
    ignore_eos: bool = False

    def sampling_fields(self) -> dict[str, Any]:
        fields = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "seed": self.seed,
            "top_k": self.top_k,
            "min_p": self.min_p,
        }
        fields = {name: value for name, value in fields.items() if value is not None}
        fields["stop"] = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        fields["ignore_eos"] = self.ignore_eos
        return fields

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class CompletionBody(_GenerationBody):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = 16
    logprobs: int | None = Field(default=None, ge=0)  # the chosen tokens' only, whatever k

    def prompts(self) -> list[Prompt]:
        if isinstance(self.prompt, str):
            return [self.prompt]
        if self.prompt and isinstance(self.prompt[0], int):
            return [self.prompt]  # type: ignore[list-item]
        return list(self.prompt)  # type: ignore[arg-type]

    def params(self) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_tokens if self.max_tokens is not None else 16,
            logprobs=self.logprobs is not None,
            **self.sampling_fields(),
        )


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None  # accepted for compatibility, unused

    def as_prompt_message(self) -> dict[str, str]:
        content = self.content
        text = content if isinstance(content, str) else "".join(p.text for p in content)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class JsonSchemaFormat(_Strict):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(_Strict):
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


class ThinkingBody(_Strict):
    """The reasonloop extension: a hard/soft/fuzzy chain of thought before the answer."""

    mode: Literal["hard", "soft", "fuzzy"]
    max_tokens: int | None = None
    temperature: float | None = None
    noise_scale: float | None = None
    end_marker: str | None = None

    def config(self) -> ThinkingConfig:
        return ThinkingConfig(**self.model_dump(exclude_none=True))


class ChatBody(_GenerationBody):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    logprobs: bool = False  # the chosen tokens' log-probs; no top alternatives
    response_format: ResponseFormat | None = None
    thinking: ThinkingBody | None = None

    def params(self, default_max_tokens: int) -> SamplingParams:
        max_tokens = self.max_completion_tokens
        if max_tokens is None:
            max_tokens = self.max_tokens if self.max_tokens is not None else default_max_tokens
        return SamplingParams(
            max_new_tokens=max_tokens,
            logprobs=self.logprobs,
            grammar=self.response_format.grammar() if self.response_format else None,
            thinking=self.thinking.config() if self.thinking else None,
            **self.sampling_fields(),
        )


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


_SAMPLING_PARAMS = {"temperature", "top_p", "top_k", "min_p", "n", "stop", "seed", "thinking"}


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
    """Refuses every request that lacks `Authorization: Bearer <token>` (before reading it)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
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


def _token_pairs(completion: Completion, tokenizer: Any) -> list[tuple[str, float]]:
    """(token text, log-prob) of the answer's tokens; only called when log-probs were asked."""
    logprobs = completion.token_logprobs or []
    return [
        (tokenizer.decode([t]), lp) for t, lp in zip(completion.token_ids, logprobs, strict=True)
    ]


def _text_logprobs(completion: Completion, tokenizer: Any) -> dict[str, Any]:
    pairs = _token_pairs(completion, tokenizer)
    return {
        "tokens": [token for token, _ in pairs],
        "token_logprobs": [lp for _, lp in pairs],
        "top_logprobs": None,
        "text_offset": None,
    }


def _chat_logprobs(completion: Completion, tokenizer: Any) -> dict[str, Any]:
    content = [
        {"token": token, "logprob": lp, "bytes": list(token.encode()), "top_logprobs": []}
        for token, lp in _token_pairs(completion, tokenizer)
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


def create_app(engine: InferenceEngine, *, auth_token: str | None = None) -> FastAPI:
    """The OpenAI-compatible API for `engine`; with `auth_token`, every request needs it."""
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

    def check_model(model: str) -> None:
        if model != engine.name:
            raise APIError(
                404,
                f"The model {shown(model)} does not exist; this server serves `{engine.name}`",
                param="model",
                code="model_not_found",
            )

    async def submit(
        prompts: list[Prompt], params: Callable[[], SamplingParams], prompt_param: str
    ) -> GenerationRequest:
        try:
            return await run_in_threadpool(lambda: engine.submit(prompts, params()))
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

    def model_card() -> dict[str, Any]:
        return {"id": engine.name, "object": "model", "created": 0, "owned_by": "reasonloop"}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model:path}")
    async def get_model(model: str) -> dict[str, Any]:
        check_model(model)
        return model_card()

    @app.post("/v1/completions")
    async def completions(body: CompletionBody, http: Request) -> Response:
        check_model(body.model)
        job = await submit(body.prompts(), body.params, "prompt")
        n, logprobs = job.params.n, body.logprobs is not None
        header = _header("text_completion", engine.name)

        def choice(c: Completion) -> dict[str, Any]:
            return {
                "index": c.prompt_index * n + c.sample_index,
                "text": c.text,
                "logprobs": _text_logprobs(c, tokenizer) if logprobs else None,
                "finish_reason": c.finish_reason,
            }

        if not body.stream:
            done = await waiter.completions(job, http)
            return JSONResponse(
                {**header, "choices": [choice(c) for c in done], "usage": _usage(job, done)}
            )

        async def chunks() -> AsyncIterator[dict[str, Any]]:
            done = []
            async for event in waiter.events(job):
                delta = {
                    "index": event.prompt_index * n + event.sample_index,
                    "text": event.text_delta,
                    "logprobs": None,
                    "finish_reason": None,
                }
                if event.completion is not None:  # log-probs come whole, with the last chunk
                    done.append(event.completion)
                    delta["finish_reason"] = event.completion.finish_reason
                    if logprobs:
                        delta["logprobs"] = _text_logprobs(event.completion, tokenizer)
                yield {**header, "choices": [delta]}
            if body.include_usage:
                yield {**header, "choices": [], "usage": _usage(job, done)}

        return _sse(chunks())

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatBody, http: Request) -> Response:
        check_model(body.model)
        messages: list[Prompt] = [[m.as_prompt_message() for m in body.messages]]
        job = await submit(messages, lambda: body.params(engine.max_new_tokens_limit), "messages")
        header = _header("chat.completion", engine.name)

        def logprobs(c: Completion) -> dict[str, Any] | None:
            return _chat_logprobs(c, tokenizer) if body.logprobs else None

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
                if event.completion is None:
                    yield chunk(event.sample_index, delta)
                    continue
                done.append(event.completion)
                yield chunk(
                    event.sample_index,
                    delta,
                    logprobs=logprobs(event.completion),
                    finish_reason=event.completion.finish_reason,
                )
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
) -> OpenAIServer:
    """Serve `create_app(engine)` with uvicorn on a background thread; returns once it listens.

    Port 0 picks a free port. With `tls_cert` and `tls_key` (PEM, as the gRPC server takes
    them) it speaks HTTPS only. Raises OSError when the address cannot be bound, ValueError
    when the certificate and key do not load together (checked here, not in the server thread).
    """
    check_tls_pair(tls_cert, tls_key)
    tls: dict[str, Any] = {}
    if tls_cert is not None and tls_key is not None:
        tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    config = uvicorn.Config(
        create_app(engine, auth_token=auth_token),
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
