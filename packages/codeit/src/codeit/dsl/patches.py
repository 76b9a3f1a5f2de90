"""Patch primitives: geometry of Objects (sets of coloured cells) and Indices (sets of points).

A Patch is either kind; primitives that only need locations accept both, and `shift` and
`normalize` return the kind they were given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from codeit.dsl.core import DSLError, check_count, color, primitive
from codeit.dsl.types import BOOL, COLOR, GRID, INDICES, INT, OBJECT, PATCH, POINT, Coll, TVar
from codeit.grid import MAX_SIDE

P = TVar("P", PATCH)

Point = tuple[int, int]
Patch = frozenset


def is_object(patch: Patch) -> bool:
    """Whether a (non-empty) patch holds coloured cells rather than bare points."""
    return bool(patch) and isinstance(next(iter(patch))[1], tuple)


def locations(patch: Patch) -> frozenset[Point]:
    if not isinstance(patch, frozenset):
        raise DSLError(f"expected a patch, got {type(patch).__name__}")
    return frozenset(loc for _, loc in patch) if is_object(patch) else patch


def bounds(patch: Patch) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a non-empty patch."""
    locs = locations(patch)
    if not locs:
        raise DSLError("empty patch has no extent")
    rows = [i for i, _ in locs]
    cols = [j for _, j in locs]
    return min(rows), min(cols), max(rows), max(cols)


FLOOD_COST = 8  # what a flood costs a location, in reads: up to eight neighbours looked up


def flooding(size: Callable[[object], int], *args: object) -> int:
    """The cost of a primitive that floods its first argument (a grid or a patch)."""
    return FLOOD_COST * size(args[0])


def flood(
    locs: set[Point], diagonal: bool, joined: Callable[[Point, Point], bool] | None = None
) -> list[list[Point]]:
    """Connected components of a set of locations; `joined` can refuse some neighbours."""
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if diagonal:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    unseen = set(locs)
    parts = []
    for start in sorted(locs):
        if start not in unseen:
            continue
        unseen.discard(start)
        part, frontier = [start], [start]
        while frontier:
            i, j = frontier.pop()
            for di, dj in steps:
                n = (i + di, j + dj)
                if n in unseen and (joined is None or joined((i, j), n)):
                    unseen.discard(n)
                    part.append(n)
                    frontier.append(n)
        parts.append(part)
    return parts


def _rect(top: int, left: int, bottom: int, right: int) -> frozenset[Point]:
    if bottom < top or right < left:
        return frozenset()
    check_count((bottom - top + 1) * (right - left + 1))
    return frozenset((i, j) for i in range(top, bottom + 1) for j in range(left, right + 1))


def building_its_box(size: Callable[[object], int], patch: Patch) -> int:
    """The cost of a primitive that builds a patch's bounding box (one step out, at most) as
    a whole rectangle, however few locations the patch or the result have."""
    if not patch:
        return 0
    top, left, bottom, right = bounds(patch)
    return size(patch) + (bottom - top + 3) * (right - left + 3)


def _outline(top: int, left: int, bottom: int, right: int) -> frozenset[Point]:
    return _rect(top, left, bottom, right) - _rect(top + 1, left + 1, bottom - 1, right - 1)


@primitive(PATCH, returns=INDICES)
def toindices(patch: Patch) -> Patch:
    """the locations of a patch"""
    return locations(patch)


@primitive(COLOR, PATCH, returns=OBJECT)
def recolor(c: int, patch: Patch) -> Patch:
    """the patch as an object of colour c"""
    color(c)
    return frozenset((c, loc) for loc in locations(patch))


@primitive(P, POINT, returns=P)
def shift(patch: Patch, offset: Point) -> Patch:
    """the patch moved by offset"""
    di, dj = offset
    if is_object(patch):
        return frozenset((c, (i + di, j + dj)) for c, (i, j) in patch)
    return frozenset((i + di, j + dj) for i, j in locations(patch))


@primitive(P, returns=P)
def normalize(patch: Patch) -> Patch:
    """the patch moved so its bounding box starts at (0, 0)"""
    if not patch:
        return patch
    top, left, _, _ = bounds(patch)
    return shift(patch, (-top, -left))


@primitive(PATCH, returns=INT)
def uppermost(patch: Patch) -> int:
    """the smallest row"""
    return bounds(patch)[0]


@primitive(PATCH, returns=INT)
def leftmost(patch: Patch) -> int:
    """the smallest column"""
    return bounds(patch)[1]


@primitive(PATCH, returns=INT)
def lowermost(patch: Patch) -> int:
    """the largest row"""
    return bounds(patch)[2]


@primitive(PATCH, returns=INT)
def rightmost(patch: Patch) -> int:
    """the largest column"""
    return bounds(patch)[3]


@primitive(PATCH, returns=POINT)
def ulcorner(patch: Patch) -> Point:
    """the upper-left corner of the bounding box"""
    top, left, _, _ = bounds(patch)
    return (top, left)


@primitive(PATCH, returns=POINT)
def urcorner(patch: Patch) -> Point:
    """the upper-right corner of the bounding box"""
    top, _, _, right = bounds(patch)
    return (top, right)


@primitive(PATCH, returns=POINT)
def llcorner(patch: Patch) -> Point:
    """the lower-left corner of the bounding box"""
    _, left, bottom, _ = bounds(patch)
    return (bottom, left)


@primitive(PATCH, returns=POINT)
def lrcorner(patch: Patch) -> Point:
    """the lower-right corner of the bounding box"""
    _, _, bottom, right = bounds(patch)
    return (bottom, right)


@primitive(PATCH, returns=POINT)
def center(patch: Patch) -> Point:
    """the centre of the bounding box (rounded up-left)"""
    top, left, bottom, right = bounds(patch)
    return ((top + bottom) // 2, (left + right) // 2)


@primitive(OBJECT, returns=COLOR)
def color_(obj: Patch) -> int:
    """the most common colour of an object"""
    if not is_object(obj):
        raise DSLError("color of an empty object")
    return Counter(c for c, _ in sorted(obj)).most_common(1)[0][0]


@primitive(PATCH, returns=INDICES, cost=building_its_box)
def backdrop(patch: Patch) -> Patch:
    """all locations of the bounding box"""
    return _rect(*bounds(patch)) if patch else frozenset()


@primitive(PATCH, returns=INDICES, cost=building_its_box)
def delta(patch: Patch) -> Patch:
    """the bounding box without the patch"""
    return backdrop(patch) - locations(patch)


@primitive(PATCH, returns=INDICES, cost=building_its_box)
def box(patch: Patch) -> Patch:
    """the outline of the bounding box"""
    return _outline(*bounds(patch)) if patch else frozenset()


@primitive(PATCH, returns=INDICES, cost=building_its_box)
def inbox(patch: Patch) -> Patch:
    """the outline one step inside the bounding box"""
    top, left, bottom, right = bounds(patch)
    return _outline(top + 1, left + 1, bottom - 1, right - 1)


@primitive(PATCH, returns=INDICES, cost=building_its_box)
def outbox(patch: Patch) -> Patch:
    """the outline one step outside the bounding box"""
    top, left, bottom, right = bounds(patch)
    return _outline(top - 1, left - 1, bottom + 1, right + 1)


@primitive(PATCH, returns=INDICES)
def corners(patch: Patch) -> Patch:
    """the four corners of the bounding box"""
    top, left, bottom, right = bounds(patch)
    return frozenset({(top, left), (top, right), (bottom, left), (bottom, right)})


@primitive(POINT, returns=INDICES)
def dneighbors(p: Point) -> Patch:
    """the four orthogonal neighbours"""
    i, j = p
    return frozenset({(i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)})


@primitive(POINT, returns=INDICES)
def ineighbors(p: Point) -> Patch:
    """the four diagonal neighbours"""
    i, j = p
    return frozenset({(i - 1, j - 1), (i - 1, j + 1), (i + 1, j - 1), (i + 1, j + 1)})


@primitive(POINT, returns=INDICES)
def neighbors(p: Point) -> Patch:
    """the eight surrounding locations"""
    return dneighbors(p) | ineighbors(p)


@primitive(POINT, POINT, returns=INDICES)
def connect(a: Point, b: Point) -> Patch:
    """the straight (row, column or diagonal) segment from a to b; empty if there is none"""
    di, dj = b[0] - a[0], b[1] - a[1]
    if di and dj and abs(di) != abs(dj):
        return frozenset()
    steps = max(abs(di), abs(dj))
    check_count(steps + 1)
    si, sj = (di > 0) - (di < 0), (dj > 0) - (dj < 0)
    return frozenset((a[0] + k * si, a[1] + k * sj) for k in range(steps + 1))


@primitive(POINT, POINT, returns=INDICES)
def shoot(start: Point, direction: Point) -> Patch:
    """the ray from start along direction, long enough to cross any grid"""
    if not all(-1 <= d <= 1 for d in direction) or direction == (0, 0):
        raise DSLError(f"{direction} is not a unit direction")
    return frozenset(
        (start[0] + k * direction[0], start[1] + k * direction[1]) for k in range(2 * MAX_SIDE)
    )


@primitive(POINT, returns=INDICES)
def hfrontier(p: Point) -> Patch:
    """the whole row through p"""
    return frozenset((p[0], j) for j in range(MAX_SIDE))


@primitive(POINT, returns=INDICES)
def vfrontier(p: Point) -> Patch:
    """the whole column through p"""
    return frozenset((i, p[1]) for i in range(MAX_SIDE))


@primitive(P, BOOL, returns=Coll(P), cost=flooding)
def components(patch: Patch, diagonal: bool) -> frozenset:
    """the connected parts of a patch (through edges, or also through corners)"""
    at: dict[Point, list] = {}
    for item in patch:
        at.setdefault(item[1] if is_object(patch) else item, []).append(item)
    return frozenset(
        frozenset(item for loc in part for item in at[loc]) for part in flood(set(at), diagonal)
    )


@primitive(PATCH, returns=BOOL)
def hline(patch: Patch) -> bool:
    """whether the patch is a horizontal line"""
    if not patch:
        return False
    top, left, bottom, right = bounds(patch)
    return top == bottom and len(locations(patch)) == right - left + 1


@primitive(PATCH, returns=BOOL)
def vline(patch: Patch) -> bool:
    """whether the patch is a vertical line"""
    if not patch:
        return False
    top, left, bottom, right = bounds(patch)
    return left == right and len(locations(patch)) == bottom - top + 1


@primitive(PATCH, PATCH, returns=INT, cost=lambda size, a, b: len(a) * len(b))
def manhattan(a: Patch, b: Patch) -> int:
    """the smallest Manhattan distance between their locations"""
    la, lb = locations(a), locations(b)
    if not la or not lb:
        raise DSLError("manhattan of an empty patch")
    if la & lb:
        return 0
    return min(abs(i - k) + abs(j - m) for i, j in la for k, m in lb)


@primitive(PATCH, PATCH, returns=BOOL)
def adjacent(a: Patch, b: Patch) -> bool:
    """whether some locations of a and b touch orthogonally"""
    lb = locations(b)
    return any(n in lb for p in locations(a) for n in dneighbors(p))


@primitive(PATCH, PATCH, returns=BOOL)
def hmatching(a: Patch, b: Patch) -> bool:
    """whether they share a row"""
    return bool({i for i, _ in locations(a)} & {i for i, _ in locations(b)})


@primitive(PATCH, PATCH, returns=BOOL)
def vmatching(a: Patch, b: Patch) -> bool:
    """whether they share a column"""
    return bool({j for _, j in locations(a)} & {j for _, j in locations(b)})


@primitive(PATCH, GRID, returns=BOOL)
def bordering(patch: Patch, grid: tuple) -> bool:
    """whether the patch touches the border of the grid"""
    top, left, bottom, right = bounds(patch)
    return top == 0 or left == 0 or bottom == len(grid) - 1 or right == len(grid[0]) - 1


@primitive(PATCH, PATCH, returns=POINT)
def position(a: Patch, b: Patch) -> Point:
    """the direction (signs) from the centre of a to the centre of b"""
    (ai, aj), (bi, bj) = center(a), center(b)
    return ((bi > ai) - (bi < ai), (bj > aj) - (bj < aj))


def _gravitate_cost(size: Callable[[object], int], source: Patch, target: Patch) -> int:
    """Up to 2 * MAX_SIDE shifts of source, each checked for touching target."""
    return 2 * MAX_SIDE * (5 * size(source) + size(target))


@primitive(PATCH, PATCH, returns=POINT, cost=_gravitate_cost)
def gravitate(source: Patch, target: Patch) -> Point:
    """the offset that moves source straight towards target until they touch"""
    di, dj = position(source, target)
    direction = (di, 0) if vmatching(source, target) else (0, dj)
    if direction == (0, 0):
        raise DSLError("gravitate: no direction between the patches")
    for k in range(2 * MAX_SIDE):
        offset = (k * direction[0], k * direction[1])
        if adjacent(shift(source, offset), target):
            return offset
    raise DSLError("gravitate: the patches never touch")
