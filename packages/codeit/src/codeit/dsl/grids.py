"""Grid primitives: measuring, transforming, cutting, joining and painting grids, and
segmenting them into objects.

Grids are tuples of rows; patches are frozensets. Primitives typed `Piece` (mirrors, sizes)
accept both and tell them apart by that container type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from typing_extensions import TypeIs

from codeit.dsl.containers import Container, collect, in_canonical_order, in_order
from codeit.dsl.core import (
    DSLError,
    check_size,
    color,
    integer,
    make_grid,
    primitive,
)
from codeit.dsl.patches import bounds, flood, flooding, is_object, locations, shift
from codeit.dsl.types import (
    BOOL,
    COLOR,
    COLORED,
    COLORS,
    GRID,
    GRIDS,
    INDICES,
    INT,
    OBJECT,
    OBJECTS,
    PATCH,
    PIECE,
    POINT,
    TVar,
)
from codeit.grid import Grid

Q = TVar("Q", PIECE)

Point = tuple[int, int]


def is_grid(x: object) -> TypeIs[Grid]:
    """Grids are tuples (of rows); every other piece is a frozenset patch."""
    return isinstance(x, tuple)


def _colors(x: Grid | frozenset) -> list[int]:
    """Every cell colour of a grid or object, in a deterministic order."""
    if is_grid(x):
        return [c for row in x for c in row]
    return [c for c, _ in sorted(x)] if is_object(x) else []


def _background(grid: Grid) -> int:
    return Counter(_colors(grid)).most_common(1)[0][0]


@primitive(PIECE, returns=INT)
def height(piece: Grid | frozenset) -> int:
    """the number of rows (of a patch: of its bounding box)"""
    if is_grid(piece):
        return len(piece)
    if not piece:
        return 0
    top, _, bottom, _ = bounds(piece)
    return bottom - top + 1


@primitive(PIECE, returns=INT)
def width(piece: Grid | frozenset) -> int:
    """the number of columns (of a patch: of its bounding box)"""
    if is_grid(piece):
        return len(piece[0])
    if not piece:
        return 0
    _, left, _, right = bounds(piece)
    return right - left + 1


@primitive(PIECE, returns=POINT)
def shape(piece: Grid | frozenset) -> Point:
    """(height, width)"""
    return (height(piece), width(piece))


@primitive(PIECE, returns=BOOL)
def portrait(piece: Grid | frozenset) -> bool:
    """whether it is taller than wide"""
    return height(piece) > width(piece)


@primitive(PIECE, returns=BOOL)
def square(piece: Grid | frozenset) -> bool:
    """whether it is as tall as wide"""
    return height(piece) == width(piece)


@primitive(COLORED, returns=COLOR)
def mostcolor(x: Grid | frozenset) -> int:
    """the most common colour"""
    colors = _colors(x)
    if not colors:
        raise DSLError("mostcolor of an empty object")
    return Counter(colors).most_common(1)[0][0]


@primitive(COLORED, returns=COLOR)
def leastcolor(x: Grid | frozenset) -> int:
    """the least common colour"""
    counts = Counter(_colors(x))
    if not counts:
        raise DSLError("leastcolor of an empty object")
    return min(counts, key=counts.__getitem__)


@primitive(COLORED, returns=COLORS)
def palette(x: Grid | frozenset) -> frozenset:
    """the set of colours"""
    return frozenset(_colors(x))


@primitive(COLORED, returns=INT)
def numcolors(x: Grid | frozenset) -> int:
    """the number of distinct colours"""
    return len(set(_colors(x)))


@primitive(COLORED, COLOR, returns=INT)
def colorcount(x: Grid | frozenset, c: int) -> int:
    """how many cells have colour c"""
    return _colors(x).count(c)


@primitive(GRID, POINT, returns=COLOR, cost=lambda size, grid, p: 1)
def index(grid: Grid, p: Point) -> int:
    """the colour at location p"""
    i, j = p
    if not (0 <= i < len(grid) and 0 <= j < len(grid[0])):
        raise DSLError(f"location {p} outside the grid")
    return grid[i][j]


@primitive(GRID, COLOR, returns=INDICES)
def ofcolor(grid: Grid, c: int) -> frozenset:
    """the locations of colour c"""
    return frozenset((i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if v == c)


@primitive(GRID, returns=INDICES)
def asindices(grid: Grid) -> frozenset:
    """all locations of the grid"""
    return frozenset((i, j) for i in range(len(grid)) for j in range(len(grid[0])))


@primitive(GRID, returns=OBJECT)
def asobject(grid: Grid) -> frozenset:
    """the whole grid as one object"""
    return frozenset((v, (i, j)) for i, row in enumerate(grid) for j, v in enumerate(row))


@primitive(PATCH, GRID, returns=OBJECT)
def toobject(patch: frozenset, grid: Grid) -> frozenset:
    """the cells of the grid at the patch's locations (inside the grid)"""
    h, w = len(grid), len(grid[0])
    return frozenset((grid[i][j], (i, j)) for i, j in locations(patch) if 0 <= i < h and 0 <= j < w)


@primitive(GRID, returns=GRID)
def rot90(grid: Grid) -> Grid:
    """the grid turned clockwise by 90 degrees"""
    return tuple(zip(*grid[::-1], strict=True))


@primitive(GRID, returns=GRID)
def rot180(grid: Grid) -> Grid:
    """the grid turned by 180 degrees"""
    return tuple(row[::-1] for row in grid[::-1])


@primitive(GRID, returns=GRID)
def rot270(grid: Grid) -> Grid:
    """the grid turned counter-clockwise by 90 degrees"""
    return tuple(zip(*grid, strict=True))[::-1]


def _mirror_patch(patch: frozenset, move: Callable[..., Point]) -> frozenset:
    top, left, bottom, right = bounds(patch)
    if is_object(patch):
        return frozenset((c, move(i, j, top, left, bottom, right)) for c, (i, j) in patch)
    return frozenset(move(i, j, top, left, bottom, right) for i, j in patch)


@primitive(Q, returns=Q)
def hmirror(piece: Grid | frozenset) -> Grid | frozenset:
    """upside down (a patch: within its bounding box)"""
    if is_grid(piece):
        return piece[::-1]
    if not piece:
        return piece
    return _mirror_patch(piece, lambda i, j, top, left, bottom, right: (top + bottom - i, j))


@primitive(Q, returns=Q)
def vmirror(piece: Grid | frozenset) -> Grid | frozenset:
    """left-right mirrored (a patch: within its bounding box)"""
    if is_grid(piece):
        return tuple(row[::-1] for row in piece)
    if not piece:
        return piece
    return _mirror_patch(piece, lambda i, j, top, left, bottom, right: (i, left + right - j))


@primitive(Q, returns=Q)
def dmirror(piece: Grid | frozenset) -> Grid | frozenset:
    """mirrored along the main diagonal: transposed (a patch: about its upper-left corner)"""
    if is_grid(piece):
        return tuple(zip(*piece, strict=True))
    if not piece:
        return piece
    return _mirror_patch(
        piece, lambda i, j, top, left, bottom, right: (top + j - left, left + i - top)
    )


@primitive(Q, returns=Q)
def cmirror(piece: Grid | frozenset) -> Grid | frozenset:
    """mirrored along the anti-diagonal"""
    return vmirror(dmirror(vmirror(piece)))


@primitive(GRID, POINT, POINT, returns=GRID)
def crop(grid: Grid, start: Point, dims: Point) -> Grid:
    """the dims-sized part of the grid from start (clipped to the grid)"""
    (i, j), (h, w) = start, dims
    i, j = max(i, 0), max(j, 0)
    return make_grid(row[j : j + w] for row in grid[i : i + max(h, 0)])


@primitive(PATCH, GRID, returns=GRID)
def subgrid(patch: frozenset, grid: Grid) -> Grid:
    """the part of the grid under the patch's bounding box"""
    top, left, bottom, right = bounds(patch)
    return crop(grid, (top, left), (bottom - top + 1, right - left + 1))


@primitive(GRID, returns=GRID)
def tophalf(grid: Grid) -> Grid:
    """the upper half (without a middle row)"""
    return make_grid(grid[: len(grid) // 2])


@primitive(GRID, returns=GRID)
def bottomhalf(grid: Grid) -> Grid:
    """the lower half (without a middle row)"""
    return make_grid(grid[(len(grid) + 1) // 2 :])


@primitive(GRID, returns=GRID)
def lefthalf(grid: Grid) -> Grid:
    """the left half (without a middle column)"""
    return make_grid(row[: len(row) // 2] for row in grid)


@primitive(GRID, returns=GRID)
def righthalf(grid: Grid) -> Grid:
    """the right half (without a middle column)"""
    return make_grid(row[(len(row) + 1) // 2 :] for row in grid)


@primitive(GRID, INT, returns=GRIDS)
def hsplit(grid: Grid, n: int) -> tuple:
    """n equal parts side by side, left to right (skipping 1-wide separators if present)"""
    if n < 1:
        raise DSLError(f"cannot split into {n} parts")
    w = len(grid[0])
    gap = 1 if w % n else 0
    part = (w - gap * (n - 1)) // n
    if part < 1 or part * n + gap * (n - 1) != w:
        raise DSLError(f"width {w} does not split into {n} parts")
    return tuple(crop(grid, (0, k * (part + gap)), (len(grid), part)) for k in range(n))


@primitive(GRID, INT, returns=GRIDS)
def vsplit(grid: Grid, n: int) -> tuple:
    """n equal parts stacked, top to bottom (skipping 1-high separators if present)"""
    return tuple(dmirror(g) for g in hsplit(dmirror(grid), n))


@primitive(GRID, GRID, returns=GRID)
def hconcat(a: Grid, b: Grid) -> Grid:
    """a and b side by side"""
    if len(a) != len(b):
        raise DSLError(f"hconcat of heights {len(a)} and {len(b)}")
    return make_grid(x + y for x, y in zip(a, b, strict=True))


@primitive(GRID, GRID, returns=GRID)
def vconcat(a: Grid, b: Grid) -> Grid:
    """a above b"""
    if len(a[0]) != len(b[0]):
        raise DSLError(f"vconcat of widths {len(a[0])} and {len(b[0])}")
    return make_grid(a + b)


@primitive(GRID, INT, returns=GRID)
def upscale(grid: Grid, k: int) -> Grid:
    """each cell becomes a k x k block"""
    check_size(len(grid) * k, len(grid[0]) * k)
    return tuple(tuple(c for c in row for _ in range(k)) for row in grid for _ in range(k))


@primitive(GRID, INT, returns=GRID)
def hupscale(grid: Grid, k: int) -> Grid:
    """each cell repeated k times along its row"""
    check_size(len(grid), len(grid[0]) * k)
    return tuple(tuple(c for c in row for _ in range(k)) for row in grid)


@primitive(GRID, INT, returns=GRID)
def vupscale(grid: Grid, k: int) -> Grid:
    """each row repeated k times"""
    check_size(len(grid) * k, len(grid[0]))
    return tuple(row for row in grid for _ in range(k))


@primitive(GRID, INT, returns=GRID)
def downscale(grid: Grid, k: int) -> Grid:
    """every k-th row and column (undoes upscale)"""
    if k < 1:
        raise DSLError(f"downscale factor {k}")
    return make_grid(row[::k] for row in grid[::k])


@primitive(COLOR, POINT, returns=GRID)
def canvas(c: int, dims: Point) -> Grid:
    """a grid of dims filled with colour c"""
    h, w = dims
    check_size(h, w)
    return tuple(tuple(color(c) for _ in range(w)) for _ in range(h))


def _paint(grid: Grid, cells: Iterable, only_background: bool) -> Grid:
    rows = [list(row) for row in grid]
    h, w = len(rows), len(rows[0])
    bg = _background(grid) if only_background else None
    for c, (i, j) in sorted(cells):  # sorted: overlapping cells paint in a fixed order
        if 0 <= i < h and 0 <= j < w and (bg is None or rows[i][j] == bg):
            rows[i][j] = color(c)
    return tuple(tuple(row) for row in rows)


@primitive(GRID, COLOR, PATCH, returns=GRID)
def fill(grid: Grid, c: int, patch: frozenset) -> Grid:
    """the grid with the patch's locations set to colour c"""
    return _paint(grid, ((c, loc) for loc in locations(patch)), False)


@primitive(GRID, COLOR, PATCH, returns=GRID)
def underfill(grid: Grid, c: int, patch: frozenset) -> Grid:
    """like fill, but only where the grid shows its background (most common) colour"""
    return _paint(grid, ((c, loc) for loc in locations(patch)), True)


@primitive(GRID, OBJECT, returns=GRID)
def paint(grid: Grid, obj: frozenset) -> Grid:
    """the grid with the object's cells drawn on it"""
    return _paint(grid, obj if is_object(obj) else (), False)


@primitive(GRID, OBJECT, returns=GRID)
def underpaint(grid: Grid, obj: frozenset) -> Grid:
    """like paint, but only where the grid shows its background colour"""
    return _paint(grid, obj if is_object(obj) else (), True)


@primitive(GRID, PATCH, returns=GRID)
def cover(grid: Grid, patch: frozenset) -> Grid:
    """the patch's locations filled with the background colour"""
    return fill(grid, _background(grid), patch)


@primitive(GRID, OBJECT, POINT, returns=GRID)
def move(grid: Grid, obj: frozenset, offset: Point) -> Grid:
    """the object erased and drawn again offset away"""
    return paint(cover(grid, obj), shift(obj, offset))


@primitive(GRID, COLOR, COLOR, returns=GRID)
def replace(grid: Grid, old: int, new: int) -> Grid:
    """colour old changed to new"""
    color(new)
    return tuple(tuple(new if v == old else v for v in row) for row in grid)


@primitive(GRID, COLOR, COLOR, returns=GRID)
def switch(grid: Grid, a: int, b: int) -> Grid:
    """colours a and b exchanged"""
    swap = {color(a): color(b), b: a}
    return tuple(tuple(swap.get(v, v) for v in row) for row in grid)


@primitive(GRID, returns=GRID)
def trim(grid: Grid) -> Grid:
    """the grid without its outermost rows and columns"""
    return make_grid(row[1:-1] for row in grid[1:-1])


@primitive(GRID, returns=GRID)
def compress(grid: Grid) -> Grid:
    """the grid without its single-coloured rows and columns"""
    rows = [row for row in grid if len(set(row)) > 1]
    cols = [j for j in range(len(grid[0])) if len({row[j] for row in grid}) > 1]
    return make_grid(tuple(row[j] for j in cols) for row in rows)


@primitive(GRID, GRID, COLOR, returns=GRID)
def cellwise(a: Grid, b: Grid, fallback: int) -> Grid:
    """a where a and b agree, fallback elsewhere (same-shaped grids)"""
    if len(a) != len(b) or len(a[0]) != len(b[0]):
        raise DSLError("cellwise of grids of different shapes")
    color(fallback)
    return tuple(
        tuple(x if x == y else fallback for x, y in zip(ra, rb, strict=True))
        for ra, rb in zip(a, b, strict=True)
    )


@primitive(GRID, BOOL, BOOL, BOOL, returns=OBJECTS, cost=flooding)
def objects(grid: Grid, univalued: bool, diagonal: bool, without_bg: bool) -> frozenset:
    """connected objects: single-coloured or not, with or without diagonal connections,
    ignoring the background (most common) colour or not"""
    bg = _background(grid) if without_bg else None
    cells = {(i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if v != bg}
    same = (lambda a, b: grid[a[0]][a[1]] == grid[b[0]][b[1]]) if univalued else None
    return frozenset(
        frozenset((grid[i][j], (i, j)) for i, j in part) for part in flood(cells, diagonal, same)
    )


@primitive(OBJECTS, COLOR, returns=OBJECTS, cost=in_canonical_order)
def colorfilter(objs: Container, c: int) -> Container:
    """the objects whose (most common) colour is c"""
    kept = (obj for obj in in_order(objs) if is_object(obj) and mostcolor(obj) == c)
    return collect(kept, isinstance(objs, tuple))


@primitive(GRID, returns=OBJECTS)
def partition(grid: Grid) -> frozenset:
    """one object per colour"""
    return frozenset(
        frozenset((v, (i, j)) for i, row in enumerate(grid) for j, v in enumerate(row) if v == c)
        for c in set(_colors(grid))
    )


@primitive(GRID, returns=OBJECTS)
def fgpartition(grid: Grid) -> frozenset:
    """one object per colour, except the background colour"""
    bg = _background(grid)
    return frozenset(obj for obj in partition(grid) if next(iter(obj))[0] != bg)


@primitive(GRID, returns=OBJECTS)
def frontiers(grid: Grid) -> frozenset:
    """the single-coloured full rows and columns, as objects"""
    rows = [
        frozenset((v, (i, j)) for j, v in enumerate(row))
        for i, row in enumerate(grid)
        if len(set(row)) == 1
    ]
    cols = [
        frozenset((grid[i][j], (i, j)) for i in range(len(grid)))
        for j in range(len(grid[0]))
        if len({row[j] for row in grid}) == 1
    ]
    return frozenset(rows + cols)


@primitive(GRID, OBJECT, returns=INDICES, cost=lambda size, grid, obj: size(grid) * len(obj))
def occurrences(grid: Grid, obj: frozenset) -> frozenset:
    """the offsets at which the (normalized) object appears in the grid"""
    if not is_object(obj):
        raise DSLError("occurrences of an empty object")
    top, left, bottom, right = bounds(obj)
    cells = [(c, (i - top, j - left)) for c, (i, j) in obj]
    h, w = len(grid), len(grid[0])
    return frozenset(
        (oi, oj)
        for oi in range(h - (bottom - top))
        for oj in range(w - (right - left))
        if all(grid[oi + i][oj + j] == c for c, (i, j) in cells)
    )


@primitive(GRID, INT, INT, returns=GRID)
def tile(grid: Grid, rows: int, cols: int) -> Grid:
    """the grid repeated rows times down and cols times across"""
    check_size(len(grid) * integer(rows), len(grid[0]) * integer(cols))
    return tuple(row * cols for _ in range(rows) for row in grid)
