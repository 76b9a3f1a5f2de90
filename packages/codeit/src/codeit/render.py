"""Pictures of ARC grids and tasks as PNG files, in the standard ARC colours.

Drawn on a bare Agg-backed matplotlib Figure (imported lazily, no pyplot), so it works headless
and leaves the process-wide backend alone. Files are written atomically (temporary file, then
rename): a report never shows half an image.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeit.grid import Grid, to_grid
from reasonloop.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from codeit.data import ArcTask
    from codeit.scoring import Output

    Prediction = Output | Sequence[Output]  # one output, or several attempts

# colour i of an ARC grid
PALETTE = (
    "#000000",  # 0 black
    "#0074D9",  # 1 blue
    "#FF4136",  # 2 red
    "#2ECC40",  # 3 green
    "#FFDC00",  # 4 yellow
    "#AAAAAA",  # 5 grey
    "#F012BE",  # 6 magenta
    "#FF851B",  # 7 orange
    "#7FDBFF",  # 8 light blue
    "#870C25",  # 9 maroon
)
RIGHT = "#1A9850"  # frame of a correct prediction (not an ARC colour, so it stands out)
WRONG = "#D73027"  # frame of a wrong one
_PANEL_W, _PANEL_H = 2.0, 2.4  # inches per grid, its title included
_MARGIN = 0.15  # inches around a grid's square
_TOP = 0.3  # inches for the figure's title
_DPI = 100


def draw_grids(grids: Sequence[tuple[str, Grid]], path: str | Path) -> Path:
    """One row of titled grids; return the PNG's path."""
    if not grids:
        raise ValueError("draw_grids needs at least one (title, grid) pair")
    checked = [(title, _grid(grid, title)) for title, grid in grids]
    figure, cells = _figure([len(checked)])
    for axes, (title, grid) in zip(cells[0], checked, strict=True):
        _draw_grid(axes, grid, title)
    return _save(figure, path)


def draw_task(
    task: ArcTask, path: str | Path, predictions: Sequence[Prediction] | None = None
) -> Path:
    """A task in one PNG: a row per train pair (input, output), then a row per test example
    (input, expected output and, if given, its predicted outputs framed as right or wrong).

    `predictions` has one entry per test example: an output (a grid, or the text of why there
    is none) or a sequence of attempts. Any object with the shape of `codeit.data.ArcTask`
    (`id`, `train` and `test` of examples with `input` and `output`) will do.
    """
    train = [
        (_grid(e.input, f"train {i + 1} input"), _grid(e.output, f"train {i + 1} output"))
        for i, e in enumerate(task.train)
    ]
    test = [
        (_grid(e.input, f"test {i + 1} input"), _grid(e.output, f"test {i + 1} output"))
        for i, e in enumerate(task.test)
    ]
    if not train and not test:
        raise ValueError(f"task {task.id} has no examples to draw")
    if predictions is not None and len(predictions) != len(test):
        raise ValueError(f"{len(predictions)} predictions for {len(test)} test examples")
    attempts = [_attempts(p, i) for i, p in enumerate(predictions or [[]] * len(test))]
    figure, cells = _figure([2] * len(train) + [2 + len(a) for a in attempts], f"task {task.id}")
    for i, (row, (source, target)) in enumerate(zip(cells[: len(train)], train, strict=True)):
        _draw_grid(row[0], source, f"train {i + 1}: input")
        _draw_grid(row[1], target, f"train {i + 1}: output")
    for i, (row, (source, target), tries) in enumerate(
        zip(cells[len(train) :], test, attempts, strict=True)
    ):
        _draw_grid(row[0], source, f"test {i + 1}: input")
        _draw_grid(row[1], target, f"test {i + 1}: expected")
        for k, (axes, guess) in enumerate(zip(row[2:], tries, strict=True)):
            label = f"prediction {k + 1}" if len(tries) > 1 else "prediction"
            if isinstance(guess, str):
                _draw_text(axes, guess, f"{label}: wrong")
            else:
                right = guess == target
                color = RIGHT if right else WRONG
                _draw_grid(axes, guess, f"{label}: {'right' if right else 'wrong'}", frame=color)
    return _save(figure, path)


def _grid(grid: Any, title: str) -> Grid:
    try:
        return to_grid(grid)
    except ValueError as error:
        raise ValueError(f"{title}: {error}") from None


def _is_one_grid(x: Any) -> bool:
    """A grid's first element is a row of colours; a list of attempts' is a grid or a text."""
    try:
        return isinstance(x[0][0], Integral)
    except (TypeError, IndexError, KeyError):
        return False


def _attempts(prediction: Prediction, index: int) -> list[Grid | str]:
    """The attempts for test example `index`, each a valid grid or an error text."""
    title = f"prediction for test {index + 1}"
    one = isinstance(prediction, str) or _is_one_grid(prediction)
    attempts: Sequence[object] = [prediction] if one else prediction  # each checked by _grid
    return [p if isinstance(p, str) else _grid(p, title) for p in attempts]


def _figure(
    columns_per_row: list[int], title: str | None = None
) -> tuple[Figure, list[list[Axes]]]:
    """A figure sized to its widest row, and the axes of each row's panels (placed by hand: a
    layout engine would spend seconds measuring tick labels that are not there)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns, rows = max(columns_per_row), len(columns_per_row)
    top = _TOP if title else 0.0
    width, height = _PANEL_W * columns, _PANEL_H * rows + top
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    if title:
        figure.suptitle(title, fontsize=11)
    box = _PANEL_W - 2 * _MARGIN  # each grid is drawn into a square of this side
    cells = [
        [
            figure.add_axes(
                (
                    (c * _PANEL_W + _MARGIN) / width,
                    (height - top - (r + 1) * _PANEL_H + _MARGIN) / height,
                    box / width,
                    box / height,
                )
            )
            for c in range(n)
        ]
        for r, n in enumerate(columns_per_row)
    ]
    return figure, cells


def _draw_grid(axes: Axes, grid: Grid, title: str, frame: str | None = None) -> None:
    from matplotlib.colors import BoundaryNorm, ListedColormap

    height, width = len(grid), len(grid[0])
    norm = BoundaryNorm([c - 0.5 for c in range(11)], 10)
    axes.imshow(grid, cmap=ListedColormap(PALETTE), norm=norm, interpolation="nearest")
    axes.hlines([y - 0.5 for y in range(1, height)], -0.5, width - 0.5, "#555555", linewidth=0.5)
    axes.vlines([x - 0.5 for x in range(1, width)], -0.5, height - 0.5, "#555555", linewidth=0.5)
    _frame(axes, frame)
    axes.set_title(f"{title}\n{height}x{width}", fontsize=8, color=frame or "black")


def _draw_text(axes: Axes, text: str, title: str) -> None:
    """A prediction that is no grid: show why (an error message), framed as wrong."""
    shown = "\n".join(textwrap.wrap(text, 26, max_lines=7, placeholder=" …"))
    axes.text(0.5, 0.5, shown, ha="center", va="center", fontsize=7)
    _frame(axes, WRONG)
    axes.set_title(title, fontsize=8, color=WRONG)


def _frame(axes: Axes, color: str | None) -> None:
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_color(color or "#888888")
        spine.set_linewidth(4 if color else 1)


def _save(figure: Figure, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=_DPI)
    return Path(path)
