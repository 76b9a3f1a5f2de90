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

Hostile input is refused before it costs anything: a body over `MAX_REQUEST_BYTES` gets a 413
before it is parsed, every field is range-checked (finite floats, token ids in the vocabulary)
before the request reaches a batch, and error messages quote what was sent only in part.
Given the gRPC server's certificate and key, the port speaks HTTPS only.

This module assembles the app and serves it; its parts: the request bodies (`openai_bodies`),
the size and API-key guards (`openai_guards`), OpenAI's error format and which error gets which
status (`openai_errors`), the endpoints, which wait on the blocking engine from worker threads
(`openai_handlers`), and the answers, whole or streamed (`openai_format`).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from reasonloop.extras import requires

with requires("http"):
    import uvicorn
    from fastapi import FastAPI

from reasonloop.limits import MAX_REQUEST_BYTES
from reasonloop.rpc.engine import InferenceEngine
from reasonloop.rpc.hosting import check_tls_pair
from reasonloop.rpc.openai_errors import install_error_handlers
from reasonloop.rpc.openai_guards import BearerAuth, BodyLimit
from reasonloop.rpc.openai_handlers import OpenAIHandlers


def create_app(
    engine: InferenceEngine, *, auth_token: str | None = None, strict: bool = False
) -> FastAPI:
    """The OpenAI-compatible API for `engine`; with `auth_token`, every request needs it;
    `strict` refuses fields it does not know (by default they are logged and ignored)."""
    app = FastAPI(title="reasonloop (OpenAI-compatible)")
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=MAX_REQUEST_BYTES)
    if auth_token:  # added last, so it runs first: no body is read for a refused request
        app.add_middleware(BearerAuth, token=auth_token)
    handlers = OpenAIHandlers(engine, strict=strict)
    app.get("/health")(handlers.health)
    app.get("/version")(handlers.server_version)
    app.post("/tokenize")(handlers.tokenize)
    app.post("/detokenize")(handlers.detokenize)
    app.get("/v1/models")(handlers.list_models)
    app.get("/v1/models/{model:path}")(handlers.get_model)
    app.post("/v1/completions")(handlers.completions)
    app.post("/v1/chat/completions")(handlers.chat_completions)
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
        # uvicorn waits with asyncio, which takes a float; its annotation says int
        timeout_graceful_shutdown=grace_s,  # pyright: ignore[reportArgumentType]
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
