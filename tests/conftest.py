"""Shared fixtures: real models, loaded once per test session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from reasonloop.models import LoadedModel


@pytest.fixture(scope="session")
def tiny() -> LoadedModel:
    from reasonloop.models import load_model  # imported lazily: transformers is slow to import

    return load_model("tiny-llama", device="cpu")


@pytest.fixture(scope="session")
def smollm2() -> LoadedModel:
    """The real SmolLM2-135M-Instruct (converted from its GGUF on first use, then cached)."""
    from reasonloop.models import load_model

    return load_model("smollm2-135m", device="cpu")
