"""The typed grid DSL programs are written in: primitives, constants and their types.

Importing this package registers every primitive module; `PRIMITIVES` and `CONSTANTS` are
then the complete vocabulary of the program language.
"""

from __future__ import annotations

from codeit.dsl import arith, containers, grids, patches  # noqa: F401  (registers primitives)
from codeit.dsl.constants import CONSTANTS
from codeit.dsl.core import PRIMITIVES, DSLError, DSLLimitError, Primitive
from codeit.dsl.types import (
    BOOL,
    CELL,
    COLOR,
    COLORED,
    COLORS,
    GRID,
    GRIDS,
    INDICES,
    INT,
    INTS,
    OBJECT,
    OBJECTS,
    PATCH,
    PIECE,
    POINT,
    Atom,
    Coll,
    Fn,
    TVar,
    Type,
    TypeMismatch,
    instantiate,
    is_subtype,
    unify,
)


def fits(actual: Type, required: Type) -> bool:
    """Whether a value of type `actual` can fill a slot of type `required` (each side's type
    variables taken afresh; the joint constraints of a whole call are `check_types`' job)."""
    try:
        unify(instantiate(actual), instantiate(required), {})
    except TypeMismatch:
        return False
    return True


def primitives_returning(t: Type) -> list[Primitive]:
    """The primitives whose result can fill a slot of type t (for some argument types)."""
    return [p for p in PRIMITIVES.values() if fits(p.returns, t)]


def constants_of(t: Type) -> list[str]:
    """The names that can fill a slot of type t as they are: constants of a fitting type
    and, for function-typed slots, primitives passed as function values. Integer literals
    fit Int slots (and Color slots when 0-9) but are not listed."""
    names = [name for name, (_, ct) in CONSTANTS.items() if fits(ct, t)]
    if isinstance(t, (Fn, TVar)):
        names += [p.name for p in PRIMITIVES.values() if fits(p.type, t)]
    return names


__all__ = [
    "BOOL",
    "CELL",
    "COLOR",
    "COLORED",
    "COLORS",
    "CONSTANTS",
    "GRID",
    "GRIDS",
    "INDICES",
    "INT",
    "INTS",
    "OBJECT",
    "OBJECTS",
    "PATCH",
    "PIECE",
    "POINT",
    "PRIMITIVES",
    "Atom",
    "Coll",
    "DSLError",
    "DSLLimitError",
    "Fn",
    "Primitive",
    "TVar",
    "Type",
    "TypeMismatch",
    "constants_of",
    "fits",
    "instantiate",
    "is_subtype",
    "primitives_returning",
    "unify",
]
