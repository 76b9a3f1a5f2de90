"""ARC grids as immutable, hashable tuples, plus the text forms the LM reads (dense, sparse).

Grids are tuples of tuples so that programs, caches and replay buffers can hash and compare
them directly; every way in (lists, numpy arrays, text) goes through one validation. This is
the one home of the `Grid` type and its size limit `MAX_SIDE`; the DSL's grid primitives
(`codeit.dsl.grids`) compute on these grids and take both from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral

Grid = tuple[tuple[int, ...], ...]

MAX_SIDE = 30
COLORS = range(10)


def to_grid(x: object) -> Grid:
    """Validate a rectangular 1..30 x 1..30 array of colours 0-9 (lists, tuples, numpy)."""
    tolist = getattr(x, "tolist", None)  # numpy's
    rows = tolist() if callable(tolist) else x
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise ValueError(f"a grid must be a sequence of rows, got {type(x).__name__}")
    rows = list(rows)
    if not 1 <= len(rows) <= MAX_SIDE:
        raise ValueError(f"a grid must have 1 to {MAX_SIDE} rows, got {len(rows)}")
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            raise ValueError(f"grid row {i} is not a sequence of colours")
        cells = tuple(row)
        if not 1 <= len(cells) <= MAX_SIDE:
            raise ValueError(f"grid row {i} must have 1 to {MAX_SIDE} cells, got {len(cells)}")
        if len(cells) != len(out[0] if out else cells):
            raise ValueError(
                f"grid is not rectangular: row {i} has {len(cells)} cells, row 0 has {len(out[0])}"
            )
        if not all(type(c) is int and 0 <= c <= 9 for c in cells):  # fast path: plain ints
            for cell in cells:
                if not isinstance(cell, Integral) or isinstance(cell, bool):
                    raise ValueError(f"grid row {i} holds a non-integer cell {cell!r}")
                if int(cell) not in COLORS:
                    raise ValueError(f"grid row {i} holds colour {cell!r}, colours are 0-9")
            cells = tuple(int(c) for c in cells)
        out.append(cells)
    return tuple(out)


def grid_to_text(grid: Grid) -> str:
    """One row per line, digits without separators (the prompt format of the LM)."""
    return "\n".join("".join(str(c) for c in row) for row in grid)


def background(grid: Grid) -> int:
    """The most common colour (the smallest of those tied)."""
    counts = [0] * len(COLORS)
    for row in grid:
        for cell in row:
            counts[cell] += 1
    return max(COLORS, key=lambda c: (counts[c], -c))


def grid_to_sparse_text(grid: Grid) -> str:
    """The official CodeIt prompt's sparse form: size, background colour, then `row,col:colour`
    for every other cell (`3x3 bg 0: 0,2:5 1,1:5`); short for the mostly-empty ARC grids."""
    bg = background(grid)
    cells = " ".join(
        f"{r},{c}:{v}" for r, row in enumerate(grid) for c, v in enumerate(row) if v != bg
    )
    return f"{len(grid)}x{len(grid[0])} bg {bg}:{' ' + cells if cells else ''}"


def grid_from_text(text: str) -> Grid:
    """Inverse of grid_to_text; tolerates surrounding blank space, rejects anything else."""
    lines = text.strip().splitlines()
    rows = []
    for i, line in enumerate(lines):
        line = line.strip()
        if not line.isdigit() or not line.isascii():
            raise ValueError(f"grid text line {i + 1} is not a row of digits 0-9: {line[:40]!r}")
        rows.append([int(c) for c in line])
    return to_grid(rows)
