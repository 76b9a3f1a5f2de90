"""`FieldError`: a request field's value refused, with the field named as data.

Every check of a request field (sampling parameters, prompts, grammars, the engine's limits)
raises it, its message starting with the field as it always has (`top_p must be ...`,
`stop[2] is empty`). A front end that names the field in its own terms (the OpenAI port's
`param`) reads `field` rather than parsing the message. It is a ValueError, so what maps
ValueErrors (gRPC's INVALID_ARGUMENT, a CLI's exit 2) treats it as before.

A module of its own that imports nothing: `reasonloop.limits` raises it, and
`reasonloop.errors` imports `limits`.
"""

from __future__ import annotations


class FieldError(ValueError):
    """A bad value of the request field `field`: its core name, the message's head without
    list indices (`temperature`, `thinking.max_tokens`, `stop` for `stop[2]`, `prompt` for
    `prompt 1`, `grammar.json_schema`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[type[FieldError], tuple[str, str]]:
        # what crosses a process boundary (a worker's error): ValueError's own rebuilds from
        # the message alone
        return type(self), (self.field, str(self))
