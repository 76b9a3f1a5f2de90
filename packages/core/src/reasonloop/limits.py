"""What one request may carry: the size and range limits every entry point checks first.

Servers face hostile input, so each limit here is checked before anything is allocated for the
field it bounds (before tokenizing a prompt, before a body is parsed), and the same numbers hold
for in-process callers, gRPC and the OpenAI HTTP front end. Limits that depend on the model (a
prompt's tokens against the context, token ids against the vocabulary) are checked by the
sampler; the engine's own (rows, queue, memory) are in `reasonloop.rpc.engine.EngineLimits`.

`shown` is how an error message quotes a value a client sent: shortened, so that a 4 MB field
never comes back in a status message.
"""

from __future__ import annotations

from reasonloop.field_error import FieldError

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # an HTTP body; gRPC's own default message limit is the same
MAX_PROMPT_CHARS = 1024 * 1024  # one prompt's text (a chat: all its messages' contents)
MAX_CHAT_MESSAGES = 1024  # messages of one chat prompt
MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 256  # one stop string
MAX_END_MARKER_CHARS = 256  # thinking.end_marker: each of its tokens costs a decoding step
MAX_END_MARKER_TOKENS = 64
MAX_GRAMMAR_CHARS = 64 * 1024  # a grammar's text (JSON schema, regex or EBNF)
MAX_GRAMMAR_DEPTH = 64  # brackets nested in a grammar (600 nested objects compiled for a minute)
MAX_INT32 = 2**31 - 1  # token budgets and top_k, as the wire format carries them
MAX_SEED = 2**64 - 1
MIN_TEMPERATURE = 1e-6  # below it (but above 0), logits / T overflows float32
MAX_NOISE_SCALE = 100.0  # soft/fuzzy noise, relative to the embeddings' RMS
MAX_LOGIT_BIAS = 300  # logit_bias entries (OpenAI's own limit)
MAX_LOGIT_BIAS_VALUE = 100.0  # a bias is in [-100, 100], as OpenAI takes it
MAX_PENALTY = 2.0  # frequency_penalty and presence_penalty are in [-2, 2], as OpenAI takes them
MAX_REPETITION_PENALTY = 100.0  # repetition_penalty (vLLM's; 1 is off) is in (0, 100]
MAX_TOP_LOGPROBS = 20  # alternatives per token (OpenAI's limit; vLLM's default)
MAX_ERROR_CHARS = 500  # longest message an error status carries

SHOWN_CHARS = 40


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)`, cut to about `limit` characters with a note of how long it was."""
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def at_most(field: str, count: int, limit: int) -> None:
    """Refuse `count` things in `field` (prompts, items) beyond `limit`, naming the field."""
    if count > limit:
        raise FieldError(field, f"{field}: {count} {field}, the limit is {limit}")


def clipped(message: str) -> str:
    """An error message cut to `MAX_ERROR_CHARS` (a last guard: fields are `shown` already)."""
    if len(message) <= MAX_ERROR_CHARS:
        return message
    return message[: MAX_ERROR_CHARS - 30] + f"... ({len(message)} characters)"
