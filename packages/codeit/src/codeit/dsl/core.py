"""Primitive records, the registry every primitive module adds to, and the DSL's errors.

The interpreter reaches primitives only through `PRIMITIVES` (a lookup by name), never through
getattr or eval, so this registry is the whole surface a program can touch.

A primitive's work is charged to the program's budget before the call. The default charge is
the size of its arguments (what a primitive that reads them once does); a primitive whose work
is not that - a lookup that reads one item, a pairwise comparison of two patches - declares its
own `cost`, a function of a measuring function and the arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from codeit.dsl.types import Fn, Type
from codeit.grid import MAX_SIDE, Grid

MAX_ITEMS = 4096  # the largest collection a primitive may produce
MAX_INT = 10_000  # the largest magnitude of an integer a primitive may produce


class DSLError(Exception):
    """A primitive got an argument it cannot handle (empty collection, bad colour, ...)."""


class DSLLimitError(DSLError):
    """A primitive would produce a value beyond the size limits (grid > 30x30, ...)."""


# The work of one call, in items read and compared, from its arguments: called as
# `cost(size, *args)`, where `size` measures a value in items (shared parts counted each time).
Cost = Callable[..., int]


@dataclass(frozen=True)
class Primitive:
    name: str
    fn: Callable
    params: tuple[Type, ...]
    returns: Type
    doc: str
    cost: Cost | None = None  # None: the size of the arguments

    @property
    def type(self) -> Fn:
        """The primitive as a function value (what a FuncRef argument has)."""
        return Fn(self.params, self.returns)

    @property
    def arity(self) -> int:
        return len(self.params)


PRIMITIVES: dict[str, Primitive] = {}


def primitive(
    *params: Type, returns: Type, cost: Cost | None = None
) -> Callable[[Callable], Callable]:
    """Register the decorated function as a primitive named after it, documented by its
    docstring's first line; `cost` when its work is not the size of its arguments."""

    def register(fn: Callable) -> Callable:
        name = fn.__name__.rstrip("_")
        if name in PRIMITIVES:
            raise RuntimeError(f"primitive {name} registered twice")
        if len(inspect.signature(fn).parameters) != len(params):
            raise RuntimeError(f"primitive {name}: signature and declared types differ")
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        PRIMITIVES[name] = Primitive(name, fn, tuple(params), returns, doc, cost)
        return fn

    return register


def make_grid(rows: Iterable) -> Grid:
    """Freeze rows into a grid, enforcing 1..30 rows and columns (and rectangularity)."""
    grid = tuple(tuple(r) for r in rows)
    if not grid or not grid[0]:
        raise DSLError("empty grid")
    if len(grid) > MAX_SIDE or len(grid[0]) > MAX_SIDE:
        raise DSLLimitError(f"grid of {len(grid)}x{len(grid[0])} exceeds {MAX_SIDE}x{MAX_SIDE}")
    if any(len(r) != len(grid[0]) for r in grid):
        raise DSLError("rows of different lengths")
    return grid


def check_size(h: int, w: int) -> None:
    """Refuse, before building it, a grid of h x w."""
    if h < 1 or w < 1:
        raise DSLError(f"grid of {h}x{w} is empty")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise DSLLimitError(f"grid of {h}x{w} exceeds {MAX_SIDE}x{MAX_SIDE}")


def color(c: object) -> int:
    if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= 9:
        raise DSLError(f"{c!r} is not a colour 0-9")
    return c


def integer(n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise DSLError(f"{n!r} is not an integer")
    if abs(n) > MAX_INT:
        raise DSLLimitError(f"integer {n} exceeds {MAX_INT} in magnitude")
    return n


def check_count(n: int) -> int:
    """Refuse, before building it, a collection of n items."""
    if n > MAX_ITEMS:
        raise DSLLimitError(f"collection of {n} items exceeds {MAX_ITEMS}")
    return n
