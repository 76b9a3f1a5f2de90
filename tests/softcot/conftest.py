"""A tiny-model run config the softcot tests share."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from softcot.config import RunConfig


def make_tiny_config(**train: object) -> RunConfig:
    return RunConfig.model_validate(
        {
            "model": {"spec": "tiny-llama", "lora_rank": 4, "lora_alpha": 8},
            "data": {"levels": [0], "train_count": 16, "test_count": 4},
            "thinking": {"mode": "soft", "max_tokens": 3},
            "eval": {"samples": 2, "ks": [1, 2], "max_new_tokens": 6, "thinking_tokens": 4},
            "train": {
                "steps": 4,
                "prompts_per_step": 2,
                "group_size": 3,
                "micro_batch": 4,
                "max_new_tokens": 5,
                "checkpoint_every": 2,
                "learning_rate": 1e-2,
                **train,
            },
        }
    )


@pytest.fixture
def tiny_config() -> Callable[..., RunConfig]:
    """Builds the tiny-llama run config, with `train` fields overridden."""
    return make_tiny_config
