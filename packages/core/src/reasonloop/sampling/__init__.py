"""Batched sampling with a KV cache, constrained answers and hard/soft/fuzzy thinking.

This package exports what a request is made of (`Prompt`, `SamplingParams`, `ThinkingConfig`,
`Grammar`), which clients and benchmark servers use without torch. The decoder needs the
`models` extra and is imported from its modules: `reasonloop.sampling.decoder` (`Sampler`,
`Completion`, `StreamEvent`, `ThinkingTrace`) and `reasonloop.sampling.teacher_forcing`
(`completion_log_probs`).
"""

from reasonloop.sampling.params import (
    THINKING_MODES,
    Grammar,
    Prompt,
    SamplingParams,
    ThinkingConfig,
)

__all__ = [
    "THINKING_MODES",
    "Grammar",
    "Prompt",
    "SamplingParams",
    "ThinkingConfig",
]
