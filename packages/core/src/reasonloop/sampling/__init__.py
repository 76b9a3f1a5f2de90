"""Batched sampling with a KV cache, constrained answers and hard/soft/fuzzy thinking.

The decoder and teacher forcing (torch, transformers) load on first use, so code that only
needs `SamplingParams` -- gRPC clients, benchmark servers -- starts without them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from reasonloop.sampling.params import (
    THINKING_MODES,
    Grammar,
    SamplingParams,
    ThinkingConfig,
)

if TYPE_CHECKING:
    from reasonloop.sampling.decoder import Completion, Sampler, StreamEvent, ThinkingTrace
    from reasonloop.sampling.teacher_forcing import completion_log_probs

_LAZY = {
    "Completion": "decoder",
    "Sampler": "decoder",
    "StreamEvent": "decoder",
    "ThinkingTrace": "decoder",
    "completion_log_probs": "teacher_forcing",
}

__all__ = [
    "THINKING_MODES",
    "Completion",
    "Grammar",
    "Sampler",
    "SamplingParams",
    "StreamEvent",
    "ThinkingConfig",
    "ThinkingTrace",
    "completion_log_probs",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
