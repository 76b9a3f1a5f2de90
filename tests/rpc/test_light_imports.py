"""Clients and benchmark servers start without torch: they never decode, so they should not
pay its import (~9 s here) on every start, and the base install (no `models` extra) has none.

The packages `reasonloop.rpc`, `reasonloop.sampling` and `reasonloop.models` export only what
imports without torch; the decoder, the engine and the loaders are imported from their modules
(`tests/e2e/test_slim_core.py` runs a client and a benchmark server where torch is absent).
"""

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
        "from reasonloop.rpc import *\n"
        "from reasonloop.sampling import *\n"
        "from reasonloop.models import *\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
