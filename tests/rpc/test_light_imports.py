"""Clients and benchmark servers start without torch: they never decode, so they should not
pay its import (~9 s here) on every start."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    ["reasonloop.rpc", "softcot.benchmark", "codeit.benchmark", "benchagents.benchmark"],
)
def test_importing_does_not_load_torch(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "from reasonloop.rpc import BenchmarkClient, InferenceClient, serve_benchmark\n"
        "from reasonloop.sampling import SamplingParams\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_inference_side_still_loads_on_first_use() -> None:
    import reasonloop.rpc
    import reasonloop.sampling

    assert reasonloop.rpc.InferenceEngine.__name__ == "InferenceEngine"
    assert reasonloop.sampling.Sampler.__module__ == "reasonloop.sampling.decoder"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = reasonloop.rpc.nope
