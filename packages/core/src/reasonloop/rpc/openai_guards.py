"""The guards in front of the OpenAI-compatible app, which refuse before a handler runs:
a body over the size limit (413, before any of it is parsed) and a request without the API key
(401, before its body is read). Both answer in OpenAI's error format."""

from __future__ import annotations

import hmac

from reasonloop.extras import requires

with requires("http"):
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reasonloop.rpc.openai_errors import APIError


class BodyLimit:
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


class BearerAuth:
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
