"""Evaluation metrics (pass@k, means with confidence intervals), JSONL logs and plots.

Logs are read back with `reasonloop.jsonl` (line-numbered errors, torn last lines).
"""

from __future__ import annotations

import json
import math
import operator
import statistics
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, SupportsIndex

from reasonloop.extras import requires
from reasonloop.jsonl import read_records as read_jsonl  # a metric log's records

if TYPE_CHECKING:  # matplotlib is imported on use: it is slow to import
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "JsonlLogger",
    "MeanCI",
    "draw_heatmap",
    "mean_ci",
    "mean_pass_at_k",
    "pass_at_k",
    "plot_curves",
    "plot_heatmap",
    "read_jsonl",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from `c` correct out of `n` samples (Chen et al. 2021, "Codex").

    Equals 1 - C(n-c, k) / C(n, k), the chance that k samples drawn without replacement
    contain a correct one. The binomials overflow floats for large n, so the ratio is taken
    as the product of (1 - k/i) for i in n-c+1..n.
    """
    n, c, k = operator.index(n), operator.index(c), operator.index(k)
    if n < 1 or not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need n >= 1, 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@dataclass(frozen=True)
class MeanCI:
    """A sample mean with the bounds of its confidence interval and the sample size."""

    mean: float
    low: float
    high: float
    n: int


def _t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t distribution, without scipy.

    Exact for df 1 and 2; otherwise the Cornish-Fisher expansion around the normal quantile
    (Abramowitz & Stegun 26.7.5), within 1% of the true value for df >= 3 and p <= 0.995.
    """
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = statistics.NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> MeanCI:
    """Mean with a two-sided Student-t confidence interval.

    The t distribution (rather than a normal z) keeps the interval honest for the handful of
    problems or seeds typical of quick experiments. A single value has a zero-width interval.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_ci needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = statistics.fmean(values)
    if len(values) == 1:
        return MeanCI(mean, mean, mean, 1)
    sem = statistics.stdev(values) / math.sqrt(len(values))
    half_width = _t_quantile((1 + confidence) / 2, len(values) - 1) * sem
    return MeanCI(mean, mean - half_width, mean + half_width, len(values))


def check_pass_at_k(samples: int, ks: Sequence[int]) -> None:
    """Refuse what pass@k cannot be estimated for: fewer than one sample per task, or a k
    outside 1..samples (ValueError of one line)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if not ks or any(not 1 <= k <= samples for k in ks):
        raise ValueError(f"every k must be in 1..samples ({samples}), got {list(ks)}")


def mean_pass_at_k(
    correct_counts: Sequence[int], n: int | Sequence[int], k: int, confidence: float = 0.95
) -> MeanCI:
    """pass@k averaged over problems, with a confidence interval across problems.

    `correct_counts[i]` is the number of correct samples for problem i; `n` is the number of
    samples per problem, one value for all problems or one per problem.
    """
    # A single count (int or numpy integer) applies to every problem.
    single = isinstance(n, SupportsIndex)  # what operator.index takes (hasattr __index__)
    samples = [operator.index(n)] * len(correct_counts) if single else list(n)
    if len(samples) != len(correct_counts):
        raise ValueError(
            f"got {len(correct_counts)} correct counts but {len(samples)} sample counts"
        )
    return mean_ci(
        (pass_at_k(n_i, c_i, k) for n_i, c_i in zip(samples, correct_counts, strict=True)),
        confidence,
    )


def _to_json(value: object) -> object:
    """Fallback for json.dumps: numpy/torch scalars and arrays become numbers and lists."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else str(value)


class JsonlLogger:
    """Appends one JSON object per line to `path`, flushed after every record.

    Flushing keeps the log usable while a run is going and intact up to the last record if
    it crashes. Records get a `time` (Unix seconds) unless they carry one. Thread-safe.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def log(self, record: Mapping[str, object]) -> None:
        line = json.dumps({"time": time.time(), **record}, default=_to_json, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def plot_curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
) -> Path:
    """Write a PNG with one line per `name: (xs, ys)` entry of `series`; return its path.
    The figure is `curves_figure`'s."""
    figure = curves_figure(series, title=title, xlabel=xlabel, ylabel=ylabel, logx=logx)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path


def curves_figure(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
) -> Figure:
    """A figure with one line per `name: (xs, ys)` entry of `series`.

    Small runs stay readable: whole-number axes (iterations, counts) get whole-number ticks,
    counts and scores that are never negative start at 0 (all zero: 0 to 1, not a band
    around 0), and each series has a hollow marker of its own, so equal series all show.
    Draws on a bare Agg-backed Figure instead of pyplot, so it works headless and leaves the
    process-wide matplotlib backend and pyplot state alone.
    """
    with requires("plot"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

    if not series:
        raise ValueError("plot_curves needs at least one series")
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    markers = "osD^v<>ph"
    for i, (name, (xs, ys)) in enumerate(series.items()):
        if len(xs) != len(ys):
            raise ValueError(f"series {name!r} has {len(xs)} x values but {len(ys)} y values")
        size = 9 - 5 * i / max(1, len(series) - 1)  # the first marker largest: none hides one
        axes.plot(
            xs, ys, marker=markers[i % len(markers)], markersize=size, fillstyle="none", label=name
        )
    all_xs = [float(x) for xs, _ in series.values() for x in xs]
    all_ys = [float(y) for _, ys in series.values() for y in ys]
    if all_xs and all(x.is_integer() for x in all_xs) and not logx:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if max(all_xs) - min(all_xs) < 2:  # one or two iterations: whole ticks, some room
            axes.set_xlim(min(all_xs) - 0.5, max(all_xs) + 0.5)
    if all_ys and all(y.is_integer() for y in all_ys):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if all_ys and min(all_ys) >= 0:
        top = max(all_ys)
        if top == 0:
            axes.set_ylim(-0.04, 1)  # all zero: a line on the floor of a 0-1 axis
        else:
            axes.set_ylim(bottom=-0.04 * top)  # the floor at 0, markers on it still whole
    if logx:
        axes.set_xscale("log")
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def plot_heatmap(
    grid: Sequence[Sequence[float]],
    path: str | Path,
    *,
    rows: Sequence[str],
    columns: Sequence[str],
    **labels: Any,
) -> Path:
    """Write a PNG heatmap of `grid` alone in its figure, drawn by `draw_heatmap` (which
    takes the `labels`: title, axis labels, value range); return its path."""
    with requires("plot"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    figure = Figure(figsize=(2.0 + 1.3 * len(columns), 1.6 + 0.5 * len(rows)), layout="constrained")
    FigureCanvasAgg(figure)
    draw_heatmap(figure.add_subplot(), grid, rows=rows, columns=columns, **labels)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path


def draw_heatmap(
    axes: Axes,
    grid: Sequence[Sequence[float]],
    *,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    value_range: tuple[float, float] = (0.0, 1.0),
) -> None:
    """Draw `grid` (one row per `rows` label) on `axes` as a heatmap with a colour bar, each
    cell annotated with its value.

    The colour scale is fixed to `value_range` rather than the data's range, so heatmaps of
    different runs read alike (0.5 is always the same colour).
    """
    if len(grid) != len(rows) or any(len(row) != len(columns) for row in grid):
        raise ValueError(f"grid must be {len(rows)} rows of {len(columns)} values")
    low, high = value_range
    image = axes.imshow(grid, vmin=low, vmax=high, cmap="viridis", aspect="auto")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            bright = (value - low) / (high - low) > 0.6  # viridis is light at the top
            color = "black" if bright else "white"
            axes.text(j, i, f"{value:.3f}", ha="center", va="center", color=color)
    axes.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.figure.colorbar(image, ax=axes, shrink=0.8)
