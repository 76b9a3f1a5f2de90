"""reasonloop.metrics: pass@k, means with confidence intervals, JSONL logs, plots."""

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from reasonloop.metrics import (
    JsonlLogger,
    MeanCI,
    _t_quantile,
    curves_figure,
    draw_heatmap,
    mean_ci,
    mean_pass_at_k,
    pass_at_k,
    plot_curves,
    plot_heatmap,
    read_jsonl,
)

# --------------------------------------------------------------------------- pass@k


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (the first c correct) holding a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in subset) for subset in subsets) / len(subsets)


def test_pass_at_k_matches_enumeration() -> None:
    checked = 0
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(
                    brute_force_pass_at_k(n, c, k), abs=1e-12
                ), (n, c, k)
                checked += 1
    assert checked == sum(n * (n + 1) for n in range(1, 9))


def test_pass_at_k_edge_cases() -> None:
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 6, 5) == 1.0  # only 4 wrong samples: any 5 contain a right one
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the plain accuracy
    assert pass_at_k(np.int64(4), np.int64(1), np.int64(2)) == pytest.approx(0.5)


def test_pass_at_k_large_n_is_stable() -> None:
    # math.comb(10_000, 500) overflows a float; the product form does not.
    n, c, k = 10_000, 7, 500
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize(
    ("n", "c", "k"), [(5, 0, 6), (5, 6, 1), (5, -1, 1), (5, 1, 0), (0, 0, 0), (3, 1, -1)]
)
def test_pass_at_k_rejects_bad_values(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_pass_at_k_rejects_non_integers() -> None:
    with pytest.raises(TypeError):
        pass_at_k(10, 2.5, 1)  # type: ignore[arg-type]


def test_mean_pass_at_k() -> None:
    result = mean_pass_at_k([0, 5, 10], 10, k=1)
    assert result.mean == pytest.approx(0.5)
    assert result.n == 3
    assert result.low < 0.5 < result.high

    per_problem = mean_pass_at_k([1, 1], [2, 4], k=2)
    assert per_problem.mean == pytest.approx((1.0 + 0.5) / 2)
    assert mean_pass_at_k([1, 1], np.int64(2), k=1).mean == pytest.approx(0.5)

    with pytest.raises(ValueError, match="2 correct counts but 3"):
        mean_pass_at_k([1, 1], [2, 2, 2], k=1)


# --------------------------------------------------------------------------- confidence intervals


def test_mean_ci_known_values() -> None:
    # mean 3, sample sd sqrt(2.5), t(0.975, df=4) = 2.7764.
    result = mean_ci([1, 2, 3, 4, 5])
    half_width = 2.7764 * math.sqrt(2.5) / math.sqrt(5)
    assert result.mean == 3.0
    assert result.n == 5
    assert result.low == pytest.approx(3 - half_width, rel=1e-3)
    assert result.high == pytest.approx(3 + half_width, rel=1e-3)
    # A higher confidence gives a wider interval.
    assert mean_ci([1, 2, 3, 4, 5], confidence=0.99).low < result.low


def test_mean_ci_degenerate() -> None:
    assert mean_ci([0.7]) == MeanCI(0.7, 0.7, 0.7, 1)
    assert mean_ci([2.0, 2.0, 2.0]) == MeanCI(2.0, 2.0, 2.0, 3)
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1, 2], confidence=1.5)


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.706),
        (0.975, 2, 4.303),
        (0.975, 3, 3.182),
        (0.975, 4, 2.776),
        (0.975, 10, 2.228),
        (0.975, 30, 2.042),
        (0.975, 1000, 1.962),
        (0.95, 5, 2.015),
        (0.995, 3, 5.841),
        (0.995, 10, 3.169),
    ],
)
def test_t_quantile_against_table(p: float, df: int, expected: float) -> None:
    assert _t_quantile(p, df) == pytest.approx(expected, rel=0.01)


# --------------------------------------------------------------------------- JSONL


def test_jsonl_round_trip(tmp_path) -> None:
    path = tmp_path / "nested" / "dir" / "log.jsonl"
    records = [
        {"step": 1, "reward": 0.5, "text": "π ≈ 3.14", "tags": ["a", "b"], "nested": {"x": None}},
        {"step": 2, "time": 123.0},
    ]
    with JsonlLogger(path) as logger:
        for record in records:
            logger.log(record)
        # Flushed per record: readable while the logger is still open.
        assert len(read_jsonl(path)) == 2
    read = read_jsonl(path)
    assert {k: v for k, v in read[0].items() if k != "time"} == records[0]
    assert isinstance(read[0]["time"], float) and read[0]["time"] > 1.6e9
    assert read[1] == records[1]  # an explicit time is kept


def test_jsonl_appends_and_serializes_numpy(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    with JsonlLogger(path) as logger:
        logger.log({"run": 1})
    with JsonlLogger(path) as logger:
        logger.log({"run": 2, "count": np.int64(3), "scores": np.array([0.5, 1.0])})
    read = read_jsonl(path)
    assert [r["run"] for r in read] == [1, 2]
    assert read[1]["count"] == 3 and read[1]["scores"] == [0.5, 1.0]
    assert path.read_text(encoding="utf-8").count("\n") == 2


def test_read_jsonl_reports_bad_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3"):
        read_jsonl(path)


# --------------------------------------------------------------------------- plots


def test_plot_curves_writes_png(tmp_path) -> None:
    import matplotlib.image

    path = plot_curves(
        {
            "hard": ([1, 2, 4, 8], [0.2, 0.3, 0.4, 0.45]),
            "soft": ([1, 2, 4, 8], [0.25, 0.35, 0.5, 0.6]),
        },
        tmp_path / "plots" / "pass_at_k.png",
        title="pass@k",
        xlabel="k",
        ylabel="pass@k",
        logx=True,
    )
    assert path == tmp_path / "plots" / "pass_at_k.png"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
    assert matplotlib.image.imread(path).shape[:2] == (504, 768)  # 6.4 x 4.2 in at 120 dpi


def test_heatmap_annotates_every_cell_on_a_fixed_scale(tmp_path) -> None:
    from matplotlib.figure import Figure

    grid = [[0.0, 0.25, 1.0], [0.5, 0.125, 0.75]]
    axes = Figure().add_subplot()
    labels = {"rows": ["base", "soft"], "columns": ["greedy", "hard", "soft"], "title": "t"}
    draw_heatmap(axes, grid, **labels, value_range=(0.0, 2.0))
    assert [t.get_text() for t in axes.texts] == [f"{v:.3f}" for row in grid for v in row]
    assert axes.images[0].get_clim() == (0.0, 2.0)  # not the data's range
    assert [t.get_text() for t in axes.get_yticklabels()] == ["base", "soft"]
    path = plot_heatmap(grid, tmp_path / "m" / "matrix.png", **labels)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="grid must be 2 rows of 3 values"):
        plot_heatmap([[0.0, 1.0]] * 2, tmp_path / "bad.png", **labels)


def test_plot_curves_rejects_bad_series(tmp_path) -> None:
    with pytest.raises(ValueError, match="2 x values but 3 y values"):
        plot_curves({"a": ([1, 2], [1, 2, 3])}, tmp_path / "x.png", title="", xlabel="", ylabel="")
    with pytest.raises(ValueError, match="at least one series"):
        plot_curves({}, tmp_path / "x.png", title="", xlabel="", ylabel="")


def test_a_one_iteration_all_zero_plot_reads_whole_numbers_from_zero() -> None:
    figure = curves_figure(
        {"codeit": ([1], [0]), "baseline": ([1], [0])},
        title="tasks solved",
        xlabel="meta-iteration",
        ylabel="tasks solved",
    )
    figure.canvas.draw()
    (axes,) = figure.axes
    visible = [t for t in axes.get_xticks() if axes.get_xlim()[0] <= t <= axes.get_xlim()[1]]
    assert visible == [1.0]  # not 0.96, 0.98, ...
    assert axes.get_ylim() == (-0.04, 1.0)  # all zero: a 0-1 axis, not a band around 0
    assert all(float(t).is_integer() for t in axes.get_yticks())
    codeit, baseline = axes.get_lines()  # equal series: both markers show
    assert codeit.get_marker() != baseline.get_marker()
    assert codeit.get_markersize() > baseline.get_markersize()
    assert codeit.get_fillstyle() == baseline.get_fillstyle() == "none"


def test_fractions_keep_their_axis_and_start_at_zero() -> None:
    figure = curves_figure(
        {"soft": ([1, 2, 4], [0.001, 0.002, 0.003])}, title="", xlabel="", ylabel=""
    )
    (axes,) = figure.axes
    low, high = axes.get_ylim()
    assert low == pytest.approx(-0.04 * 0.003) and 0.003 <= high < 0.01  # not squashed to 0-1
