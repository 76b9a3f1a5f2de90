"""How the OpenAI-compatible port answers an error: OpenAI's error body, and which status each
kind of error gets, so OpenAI clients raise their usual exceptions.

`APIError` is what a handler raises. What the engine raises maps by type (`engine_error`):
a ValueError is the request's fault (400), `QueueFullError` asks the client to retry (429),
`EngineClosedError` means the server is stopping (503). The core raises a `FieldError` for a bad
request field, naming it in the core's names (`top_p`, `max_new_tokens`, `grammar.json_schema`),
so `bad_request` names OpenAI's field (`param`) from that, never from the message's text; a
plain ValueError names none. `install_error_handlers` makes FastAPI answer its own
refusals (a body that does not validate, an unknown route) and anything unexpected (500) in
the same format; messages quote what was sent only in part.
"""

from __future__ import annotations

from collections.abc import Mapping

from reasonloop.extras import requires

with requires("http"):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

from reasonloop.field_error import FieldError
from reasonloop.limits import SHOWN_CHARS, clipped
from reasonloop.rpc.engine import EngineClosedError, QueueFullError


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
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.param, self.code, self.headers = param, code, headers

    def response(self) -> JSONResponse:
        body = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return JSONResponse({"error": body}, status_code=self.status, headers=self.headers)


# The sampling fields whose core name is OpenAI's name too.
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


def engine_error(error: Exception, prompt_param: str) -> APIError | None:
    """The answer to an error the engine raised, by its type (None: not the engine's refusal).

    `prompt_param` is the request's name for its prompts (`prompt` or `messages`)."""
    if isinstance(error, ValueError):
        return bad_request(error, prompt_param)
    if isinstance(error, QueueFullError):
        return APIError(
            429,
            str(error),
            kind="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": "1"},
        )
    if isinstance(error, EngineClosedError):
        return APIError(503, str(error), kind="server_error")
    return None


def bad_request(error: ValueError, prompt_param: str) -> APIError:
    """A 400 from the core's ValueError; a FieldError's field, in OpenAI's name, is its param."""
    message = clipped(str(error))
    field = error.field if isinstance(error, FieldError) else ""
    name = field.split(".")[0]  # a dotted path's request field: `thinking` of `thinking.mode`
    param: str | None = field if name in _SAMPLING_PARAMS else None
    if name in ("prompt", "prompts"):
        param = prompt_param
    elif name == "max_new_tokens":
        param = "max_tokens"
        if message.startswith(name):  # the message names it as the client does too
            message = param + message[len(name) :]
    elif name == "top_logprobs":
        param = "logprobs" if prompt_param == "prompt" else name
    elif name == "grammar":  # a grammar comes from response_format's json_schema
        param = "response_format"
    return APIError(400, message, param=param)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error `app` meets in OpenAI's format."""
    # the decorator form of add_exception_handler: its type takes a handler of one exception
    # class (add_exception_handler's wants a handler of any Exception)
    app.exception_handler(RequestValidationError)(_validation_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(APIError)(_api_error)
    app.exception_handler(Exception)(_server_error)


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
