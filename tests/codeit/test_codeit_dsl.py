"""DSL primitives (semantics, limits, determinism) and the type system behind them."""

from __future__ import annotations

import inspect

import pytest

from codeit.dsl import (
    BOOL,
    COLOR,
    COLORS,
    CONSTANTS,
    GRID,
    INDICES,
    INT,
    INTS,
    OBJECT,
    OBJECTS,
    PATCH,
    PIECE,
    POINT,
    PRIMITIVES,
    Coll,
    DSLError,
    DSLLimitError,
    Fn,
    Primitive,
    constants_of,
    is_subtype,
    primitives_returning,
)


def call(name: str, *args: object) -> object:
    return PRIMITIVES[name].fn(*args)


GRID_A = (
    (0, 0, 0, 0),
    (0, 2, 2, 0),
    (0, 0, 0, 3),
    (1, 0, 0, 3),
)


def test_registry_is_complete_and_typed() -> None:
    assert len(PRIMITIVES) >= 100
    for name, prim in PRIMITIVES.items():
        assert isinstance(prim, Primitive) and prim.name == name
        assert prim.doc, f"{name} has no doc"
        assert len(inspect.signature(prim.fn).parameters) == len(prim.params) == prim.arity
        assert prim.type == Fn(prim.params, prim.returns)
    assert not set(PRIMITIVES) & set(CONSTANTS)


def test_constants() -> None:
    assert CONSTANTS["RED"] == (2, COLOR)
    assert CONSTANTS["TEN"] == (10, INT)
    assert CONSTANTS["TRUE"] == (True, BOOL)
    assert CONSTANTS["UP"] == ((-1, 0), POINT)
    assert all(name.isupper() for name in CONSTANTS)


def test_subtyping() -> None:
    assert is_subtype(COLOR, INT) and not is_subtype(INT, COLOR)
    assert is_subtype(OBJECT, PATCH) and is_subtype(INDICES, PATCH)
    assert is_subtype(GRID, PIECE) and is_subtype(OBJECT, PIECE)
    assert not is_subtype(GRID, PATCH) and not is_subtype(OBJECTS, PATCH)
    assert is_subtype(COLORS, INTS) and not is_subtype(INTS, COLORS)
    # functions: contravariant parameters, covariant results
    assert is_subtype(Fn((PIECE,), COLOR), Fn((OBJECT,), INT))
    assert not is_subtype(Fn((OBJECT,), INT), Fn((PIECE,), INT))


def test_slot_queries() -> None:
    grid_makers = {p.name for p in primitives_returning(GRID)}
    assert {"vmirror", "canvas", "fill", "first", "branch"} <= grid_makers
    assert not {"size", "objects", "ofcolor"} & grid_makers
    assert "objects" in {p.name for p in primitives_returning(OBJECTS)}
    colors = constants_of(COLOR)
    assert "RED" in colors and "ZERO" in colors and "TRUE" not in colors and "TEN" not in colors
    assert "TEN" in constants_of(INT) and "RED" in constants_of(INT)
    keys = constants_of(Fn((OBJECT,), INT))
    assert {"size", "height", "width", "uppermost", "color"} <= set(keys)
    assert not {"vmirror", "objects", "RED"} & set(keys)
    assert set(constants_of(Fn((OBJECT,), BOOL))) >= {"hline", "vline", "square"}


def test_objects_and_partitions() -> None:
    objs = call("objects", GRID_A, True, False, True)
    assert {frozenset(o) for o in objs} == {
        frozenset({(2, (1, 1)), (2, (1, 2))}),
        frozenset({(3, (2, 3)), (3, (3, 3))}),
        frozenset({(1, (3, 0))}),
    }
    # diagonal connection merges 2s and 3s into one multicolour object
    assert len(call("objects", GRID_A, False, True, True)) == 2
    assert len(call("objects", GRID_A, True, False, False)) == 4  # plus the background
    assert len(call("partition", GRID_A)) == 4 and len(call("fgpartition", GRID_A)) == 3


def test_components_split_any_patch() -> None:
    patch = frozenset({(0, 0), (0, 1), (1, 2), (3, 3)})
    assert call("components", patch, False) == frozenset(
        {frozenset({(0, 0), (0, 1)}), frozenset({(1, 2)}), frozenset({(3, 3)})}
    )
    assert len(call("components", patch, True)) == 2
    obj = call("asobject", GRID_A)  # one object of every cell: a single part
    assert call("components", obj, False) == frozenset({obj})
    assert not call("hline", frozenset()) and not call("vline", frozenset())


def test_grid_transforms() -> None:
    g = ((1, 2, 3), (4, 5, 6))
    assert call("rot90", g) == ((4, 1), (5, 2), (6, 3))
    assert call("rot270", call("rot90", g)) == g
    assert call("rot180", g) == ((6, 5, 4), (3, 2, 1))
    assert call("dmirror", g) == ((1, 4), (2, 5), (3, 6))
    assert call("cmirror", g) == ((6, 3), (5, 2), (4, 1))
    assert call("hconcat", g, g) == ((1, 2, 3, 1, 2, 3), (4, 5, 6, 4, 5, 6))
    assert call("upscale", ((1,),), 2) == ((1, 1), (1, 1))
    assert call("downscale", call("upscale", g, 3), 3) == g
    assert call("crop", g, (0, 1), (2, 2)) == ((2, 3), (5, 6))
    assert call("compress", ((0, 0, 0), (0, 1, 0))) == ((1,),)
    # 7 wide in 2 parts: a 1-wide separator column is skipped
    left, right = call("hsplit", ((1, 1, 1, 5, 2, 2, 2),), 2)
    assert (left, right) == (((1, 1, 1),), ((2, 2, 2),))
    with pytest.raises(DSLError, match="does not split"):
        call("hsplit", ((1, 2, 3, 4),), 3)


def test_painting() -> None:
    g = ((0, 0), (0, 5))
    assert call("fill", g, 3, frozenset({(0, 0), (9, 9)})) == ((3, 0), (0, 5))  # clipped
    assert call("underfill", g, 3, frozenset({(0, 0), (1, 1)})) == ((3, 0), (0, 5))
    assert call("paint", g, frozenset({(4, (0, 1))})) == ((0, 4), (0, 5))
    assert call("move", g, frozenset({(5, (1, 1))}), (-1, 0)) == ((0, 5), (0, 0))
    assert call("switch", g, 0, 5) == ((5, 5), (5, 0))
    assert call("cellwise", g, ((0, 1), (0, 5)), 7) == ((0, 7), (0, 5))
    with pytest.raises(DSLError, match="not a colour"):
        call("fill", g, 12, frozenset({(0, 0)}))


def test_patch_geometry() -> None:
    obj = frozenset({(1, (2, 3)), (2, (4, 3)), (1, (2, 5))})
    assert call("ulcorner", obj) == (2, 3) and call("lrcorner", obj) == (4, 5)
    assert call("shape", obj) == (3, 3) and call("center", obj) == (3, 4)
    assert call("color", obj) == 1
    assert call("normalize", obj) == frozenset({(1, (0, 0)), (2, (2, 0)), (1, (0, 2))})
    assert call("shift", frozenset({(0, 0)}), (1, 2)) == frozenset({(1, 2)})
    assert call("hmirror", obj) == frozenset({(1, (4, 3)), (2, (2, 3)), (1, (4, 5))})
    assert len(call("backdrop", obj)) == 9 and len(call("box", obj)) == 8
    assert call("delta", obj) == call("backdrop", obj) - call("toindices", obj)
    assert call("connect", (0, 0), (2, 2)) == frozenset({(0, 0), (1, 1), (2, 2)})
    assert call("connect", (0, 0), (1, 2)) == frozenset()
    assert call("gravitate", frozenset({(0, 0)}), frozenset({(5, 0)})) == (4, 0)
    assert call("adjacent", frozenset({(0, 0)}), frozenset({(0, 1)}))
    assert not call("adjacent", frozenset({(0, 0)}), frozenset({(1, 1)}))


def test_higher_order_and_containers() -> None:
    objs = call("objects", GRID_A, True, False, True)
    assert call("argmax", objs, PRIMITIVES["size"].fn) in objs
    assert call("valmax", objs, PRIMITIVES["size"].fn) == 2
    add_two = call("rbind", PRIMITIVES["add"].fn, 2)
    assert add_two(5) == 7
    assert call("compose", PRIMITIVES["double"].fn, add_two)(1) == 6
    assert (
        call("fork", PRIMITIVES["add"].fn, PRIMITIVES["height"].fn, PRIMITIVES["width"].fn)(GRID_A)
        == 8
    )
    assert call("power", PRIMITIVES["increment"].fn, 3)(0) == 3
    assert call("order", (3, 1, 2), call("rbind", PRIMITIVES["multiply"].fn, -1)) == (3, 2, 1)
    assert call("mostcommon", (1, 2, 2, 3)) == 2
    assert call("merge", (frozenset({1}), frozenset({2}))) == frozenset({1, 2})
    assert call("merge", ((1, 2), (2,))) == (1, 2, 2)
    with pytest.raises(DSLError, match="empty"):
        call("first", frozenset())


def test_sets_are_walked_in_canonical_order() -> None:
    # not hash order: the same set built in different orders gives the same first/last
    a = frozenset({(5, 5), (0, 9), (3, 1)})
    b = frozenset([(3, 1), (5, 5), (0, 9)])
    assert call("first", a) == call("first", b) == (0, 9)
    assert call("last", a) == (5, 5)


def test_point_collections_are_always_sets() -> None:
    # a tuple of points would be indistinguishable from a grid for Piece primitives
    ordered = call("order", frozenset({(0, 1), (1, 0)}), PRIMITIVES["colof"].fn)
    assert isinstance(ordered, frozenset)
    assert isinstance(call("totuple", frozenset({3, 1})), tuple)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("upscale", (((1,) * 10,), 4)),
        ("canvas", (0, (31, 1))),
        ("hconcat", (((0,) * 20,), ((0,) * 20,))),
        ("tile", (((0,),), 31, 1)),
        ("multiply", (10_000, 10_000)),
        ("connect", ((0, 0), (0, 9_999))),
        ("backdrop", (frozenset({(0, 0), (100, 100)}),)),
    ],
)
def test_size_limits(name: str, args: tuple) -> None:
    with pytest.raises(DSLLimitError):
        call(name, *args)


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("divide", (1, 0), "division by zero"),
        ("index", (GRID_A, (9, 9)), "outside the grid"),
        ("tophalf", (((1,),),), "empty grid"),
        ("hconcat", (((1,),), ((1,), (2,))), "heights"),
        ("shoot", ((0, 0), (2, 0)), "unit direction"),
        ("extract", ((1, 2), lambda x: x > 5), "no item"),
        ("repeat", (1, 99), "outside"),
    ],
)
def test_bad_inputs_raise_dsl_errors(name: str, args: tuple, message: str) -> None:
    with pytest.raises(DSLError, match=message):
        call(name, *args)


def test_types_of_signatures_are_closed() -> None:
    """Every signature is built from the closed set of types (no stray Python classes)."""

    def walk(t: object) -> None:
        if isinstance(t, Fn):
            for p in t.params:
                walk(p)
            walk(t.ret)
        elif isinstance(t, Coll):
            walk(t.elem)
        else:
            assert type(t).__name__ in {"Atom", "TVar"}, t

    for prim in PRIMITIVES.values():
        walk(prim.type)
