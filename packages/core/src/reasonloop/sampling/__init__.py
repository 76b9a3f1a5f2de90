"""Batched sampling with a KV cache, constrained answers and hard/soft/fuzzy thinking.

The decoder and teacher forcing (torch, transformers) load on first use, so code that only
needs `SamplingParams` -- gRPC clients, benchmark servers -- starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reasonloop.lazy import lazy_attributes
from reasonloop.sampling.params import (
    THINKING_MODES,
    Grammar,
    Prompt,
    SamplingParams,
    ThinkingConfig,
)

if TYPE_CHECKING:
    from reasonloop.sampling.decoder import Completion, Sampler, StreamEvent, ThinkingTrace
    from reasonloop.sampling.teacher_forcing import completion_log_probs

__getattr__ = lazy_attributes(
    __name__,
    {
        "Completion": "decoder",
        "Sampler": "decoder",
        "StreamEvent": "decoder",
        "ThinkingTrace": "decoder",
        "completion_log_probs": "teacher_forcing",
    },
)

__all__ = [
    "THINKING_MODES",
    "Completion",
    "Grammar",
    "Prompt",
    "Sampler",
    "SamplingParams",
    "StreamEvent",
    "ThinkingConfig",
    "ThinkingTrace",
    "completion_log_probs",
]
