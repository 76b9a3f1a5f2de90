"""The DSL's closed set of types: atoms, homogeneous collections, functions and type variables.

Why a real (small) type system: mutation and grammar-constrained decoding both need to know
which primitives, constants and variables fit an argument slot. Subtyping is limited to a
fixed table of atoms (a Color is an Int; Objects and Indices are Patches; Grids and Patches
are Pieces) and covariant collections; type variables make the generic container and
higher-order primitives (`apply`, `argmax`, `rbind`, ...) precise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Atom:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Coll:
    """A tuple or frozenset of elements of one type."""

    elem: Type

    def __str__(self) -> str:
        return _ALIASES.get(self) or f"Coll[{self.elem}]"


@dataclass(frozen=True)
class Fn:
    params: tuple[Type, ...]
    ret: Type

    def __str__(self) -> str:
        return f"({', '.join(map(str, self.params))}) -> {self.ret}"


@dataclass(frozen=True)
class TVar:
    """A type variable; `bound` (an abstract atom) limits what it may stand for."""

    name: str
    bound: Atom | None = None

    def __str__(self) -> str:
        name = self.name.split("#")[0]  # instances print as the variable they renamed
        return name if self.bound is None else f"{name}<:{self.bound}"


Type = Atom | Coll | Fn | TVar

GRID = Atom("Grid")
INT = Atom("Int")
COLOR = Atom("Color")
BOOL = Atom("Bool")
POINT = Atom("Point")  # (row, col): a location, an offset, a direction or a shape
CELL = Atom("Cell")  # (colour, (row, col))
PATCH = Atom("Patch")  # abstract: an Object or Indices
PIECE = Atom("Piece")  # abstract: a Grid or a Patch
COLORED = Atom("Colored")  # abstract: a Grid or an Object (things with colours)

OBJECT = Coll(CELL)
INDICES = Coll(POINT)
OBJECTS = Coll(OBJECT)
INTS = Coll(INT)
COLORS = Coll(COLOR)
GRIDS = Coll(GRID)

ATOMS = (GRID, INT, COLOR, BOOL, POINT, CELL, PATCH, PIECE, COLORED)
ABSTRACT = frozenset({PATCH, PIECE, COLORED})

_ALIASES = {
    OBJECT: "Object",
    INDICES: "Indices",
    OBJECTS: "Objects",
    INTS: "Ints",
    COLORS: "Colors",
    GRIDS: "Grids",
}

# Supertypes of each concrete form (reflexive-transitive closure is taken in is_subtype).
_ATOM_SUPERS = {COLOR: {INT}, GRID: {PIECE, COLORED}, PATCH: {PIECE}}
_COLL_SUPERS = {CELL: {PATCH, PIECE, COLORED}, POINT: {PATCH, PIECE}}


class TypeMismatch(Exception):
    """Raised by `unify` when no substitution makes one type fit another."""


Subst = dict[TVar, "Type"]


def resolve(t: Type, s: Subst) -> Type:
    """Apply a substitution all the way down."""
    if isinstance(t, TVar):
        return resolve(s[t], s) if t in s else t
    if isinstance(t, Coll):
        return Coll(resolve(t.elem, s))
    if isinstance(t, Fn):
        return Fn(tuple(resolve(p, s) for p in t.params), resolve(t.ret, s))
    return t


def free_vars(t: Type) -> set[TVar]:
    if isinstance(t, TVar):
        return {t}
    if isinstance(t, Coll):
        return free_vars(t.elem)
    if isinstance(t, Fn):
        return set().union(free_vars(t.ret), *(free_vars(p) for p in t.params))
    return set()


_fresh = itertools.count()


def instantiate(t: Type) -> Type:
    """Rename every type variable of `t` apart, so each use of a generic value is independent."""
    renaming: Subst = {
        v: TVar(f"{v.name.split('#')[0]}#{next(_fresh)}", v.bound) for v in free_vars(t)
    }
    return resolve(t, renaming)


def _atom_sub(a: Atom, r: Atom) -> bool:
    return a == r or any(_atom_sub(s, r) for s in _ATOM_SUPERS.get(a, ()))


def is_subtype(a: Type, r: Type) -> bool:
    """Whether every value of ground type `a` is a value of ground type `r`."""
    try:
        unify(a, r, {})
    except TypeMismatch:
        return False
    return True


def _satisfies_bound(t: Type, bound: Atom | None, s: Subst) -> bool:
    if bound is None:
        return True
    if isinstance(t, TVar):
        return t.bound is not None and _atom_sub(t.bound, bound)
    try:
        _unify(t, bound, dict(s))
    except TypeMismatch:
        return False
    return True


def _bind(v: TVar, t: Type, s: Subst) -> None:
    if v in free_vars(resolve(t, s)):
        raise TypeMismatch(f"{v} occurs in {t}")
    if not _satisfies_bound(t, v.bound, s):
        raise TypeMismatch(f"{t} is not a {v.bound}")
    s[v] = t


def _shallow(t: Type, s: Subst) -> Type:
    while isinstance(t, TVar) and t in s:
        t = s[t]
    return t


def _unify(a: Type, r: Type, s: Subst) -> None:
    if isinstance(r, TVar) and r in s and isinstance(bound := resolve(r, s), Atom):
        # a variable bound to a narrower atom is widened when that makes `a` fit (a slot
        # that took a Color and now also takes an Int): all its uses then take Ints
        a = resolve(a, s)
        if isinstance(a, Atom) and not _atom_sub(a, bound) and _atom_sub(bound, a):
            s[r] = a
            return
    a, r = _shallow(a, s), _shallow(r, s)  # not deeper: variables inside stay widenable
    if a == r or _unify_variable(a, r, s) or _unify_structure(a, r, s):
        return
    raise TypeMismatch(f"expected {r}, got {a}")


def _unify_variable(a: Type, r: Type, s: Subst) -> bool:
    """Unify when `a` or `r` is a type variable (raising TypeMismatch if they cannot be);
    False when neither is."""
    if isinstance(r, TVar):
        if isinstance(a, TVar) and not _satisfies_bound(a, r.bound, s):
            _bind(a, r, s)
        else:
            _bind(r, a, s)
        return True
    if isinstance(a, TVar):
        if a.bound is None or not isinstance(r, Atom) or not _atom_sub(a.bound, r):
            _bind(a, r, s)  # unless whatever a stands for fits r
        return True
    return False


def _unify_structure(a: Type, r: Type, s: Subst) -> bool:
    """Whether ground-headed `a` fits `r` (atoms, collections, functions), binding as needed."""
    if isinstance(a, Atom) and isinstance(r, Atom):
        return _atom_sub(a, r)
    if isinstance(a, Coll) and isinstance(r, Coll):
        _unify(a.elem, r.elem, s)
        return True
    if isinstance(a, Coll) and isinstance(r, Atom):
        return _collection_fits_atom(a, r, s)
    if isinstance(a, Fn) and isinstance(r, Fn) and len(a.params) == len(r.params):
        for pa, pr in zip(a.params, r.params, strict=True):
            _unify(pr, pa, s)  # contravariant in the parameters
        _unify(a.ret, r.ret, s)
        return True
    return False


def _collection_fits_atom(a: Coll, r: Atom, s: Subst) -> bool:
    """Whether collection `a` is a value of atom `r` (a patch is a collection of cells or
    points); a collection of unknowns is a patch if its items are, and binds them so."""
    elem = _shallow(a.elem, s)
    if isinstance(elem, TVar):
        for candidate in (CELL, POINT):
            if r in _COLL_SUPERS[candidate] and _satisfies_bound(candidate, elem.bound, s):
                _bind(elem, candidate, s)
                return True
        return False
    return isinstance(elem, Atom) and r in _COLL_SUPERS.get(elem, ())


def unify(actual: Type, required: Type, s: Subst) -> Subst:
    """A copy of substitution `s`, extended so that `actual` fits where `required` is
    expected; raises TypeMismatch when nothing does."""
    extended = dict(s)
    _unify(actual, required, extended)
    return extended
