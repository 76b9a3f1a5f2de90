"""Names a package exports but imports only when first used (PEP 562 module `__getattr__`).

What keeps torch out of light code paths: gRPC clients and benchmark servers import
`reasonloop.rpc` and `reasonloop.sampling` for their types, not for their decoders.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A `__getattr__` for `package`: name -> the attribute of `package.<modules[name]>`,
    imported on first access and then kept on the package."""

    def __getattr__(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{modules[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
