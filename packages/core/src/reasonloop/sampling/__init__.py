"""Batched sampling with a KV cache, constrained answers and hard/soft/fuzzy thinking."""

from reasonloop.sampling.decoder import Completion, Sampler, StreamEvent, ThinkingTrace
from reasonloop.sampling.params import (
    THINKING_MODES,
    Grammar,
    SamplingParams,
    ThinkingConfig,
)
from reasonloop.sampling.teacher_forcing import completion_log_probs

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
