"""Shared fixtures: real models, loaded once per test session."""

from __future__ import annotations

import signal
from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def default_ctrl_c() -> Iterator[None]:
    """Every test starts with Python's own Ctrl-C handler: a library or an in-process server
    that installed its own (and never put it back) must not change how the next test's
    Ctrl-C behaves."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)
