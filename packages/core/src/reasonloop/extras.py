"""The optional parts of reasonloop-core (its extras) and the one error for a missing one.

The base install is what a gRPC client, a benchmark server and the sandbox need: grpc,
protobuf, pydantic and a few small libraries. The heavy stacks come as extras, the way
pydantic-ai's slim package splits its providers:

- `models`: torch, transformers, peft, safetensors, gguf (`reasonloop.models.loading`,
  `reasonloop.sampling.decoder`, `reasonloop.rpc.engine`, `reasonloop.checkpoint`, ...)
- `grammar`: xgrammar, for grammar-constrained answers
- `math`: math-verify, for `MathAnswerReward`
- `plot`: matplotlib, for the PNG plots of `reasonloop.metrics`
- `http`: fastapi and uvicorn, for the OpenAI-compatible front end
- `serve`: models, grammar and http: what `reasonloop serve` runs
- `all`: every extra above; `ray`: the sandbox's Ray backend

A package's `__init__` exports only what the base install imports; a module that needs an
extra is imported by its path and does its extra's imports inside `requires(extra)`, so
without the extra it fails with one line that names the install command.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Extra = Literal["models", "grammar", "math", "plot", "http", "ray"]
DISTRIBUTION = "reasonloop-core"


class MissingExtraError(ModuleNotFoundError):
    """A library of an extra of reasonloop-core is not installed."""


def install_hint(extra: Extra) -> str:
    """The command that installs `extra`."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


@contextmanager
def requires(extra: Extra) -> Iterator[None]:
    """Imports in this block come with `extra`: a module missing among them raises
    MissingExtraError, whose one line names the module and the install command."""
    try:
        yield
    except ModuleNotFoundError as error:
        if isinstance(error, MissingExtraError):
            raise
        raise _missing(extra, error.name or "a module") from None


def check_installed(extra: Extra, module: str) -> None:
    """MissingExtraError unless `module` is installed, found without importing it: for a
    library that worker processes import, checked where the work is set up."""
    if importlib.util.find_spec(module) is None:
        raise _missing(extra, module)


def _missing(extra: Extra, module: str) -> MissingExtraError:
    top = module.partition(".")[0]
    return MissingExtraError(
        f"{top} is not installed; it comes with the {extra!r} extra: {install_hint(extra)}",
        name=module,
    )
