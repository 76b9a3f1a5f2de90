"""A module whose extra is missing fails on import with one line naming the pip command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reasonloop.extras import MissingExtraError, requires


def test_a_missing_module_names_its_extra() -> None:
    with pytest.raises(MissingExtraError) as caught, requires("plot"):
        import reasonloop_no_such_module.sub  # noqa: F401

    assert str(caught.value) == (
        "reasonloop_no_such_module is not installed; it comes with the 'plot' extra: "
        "pip install 'reasonloop-core[plot]'"
    )
    assert isinstance(caught.value, ImportError)  # `except ImportError` still catches it


@pytest.mark.parametrize(
    ("blocked", "module", "extra"),
    [
        ("torch", "reasonloop.sampling.decoder", "models"),
        ("torch", "reasonloop.models.loading", "models"),
        ("torch", "reasonloop.rpc.engine", "models"),
        ("fastapi", "reasonloop.rpc.openai_http", "http"),
        ("math_verify", "reasonloop.rewards.math_compare", "math"),
    ],
)
def test_importing_without_the_extra_says_what_to_install(
    blocked: str, module: str, extra: str
) -> None:
    # None in sys.modules makes `import blocked` fail as if it were not installed
    code = f"import sys; sys.modules[{blocked!r}] = None; import {module}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"reasonloop.extras.MissingExtraError: {blocked} is not installed; it comes with the "
        f"{extra!r} extra: pip install 'reasonloop-core[{extra}]'"
    )
