"""softcot's evaluation: the six modes, the mode-by-policy matrix, its report."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from reasonloop.metrics import MeanCI, pass_at_k
from reasonloop.models.loading import LoadedModel
from reasonloop.rewards import ExactMatchReward
from reasonloop.sampling.decoder import Sampler
from softcot.evaluation import (
    HARD_GREEDY,
    HELDOUT_TEXTS,
    INFERENCE_MODES,
    CellResult,
    MatrixReport,
    OODResult,
    cell_from_scores,
    evaluate_matrix,
    heldout_log_likelihood,
)
from softcot.prompts import ANSWER_MARKER, MathProblem, chat_prompt

PROBLEMS = [
    MathProblem("add", "What is 2 + 3?", "5"),
    MathProblem("mul", "What is 4 * 6?", "24"),
    MathProblem("sub", "What is 10 - 7?", "3"),
]
SHORT = {"max_new_tokens": 8, "thinking_tokens": 4}


def test_six_modes_params() -> None:
    assert [m.name for m in INFERENCE_MODES] == [
        "hard-greedy",
        "hard-sample",
        "soft-greedy",
        "soft-sample",
        "fuzzy-greedy",
        "fuzzy-sample",
    ]
    for mode in INFERENCE_MODES:
        p = mode.params(samples=5, seed=3, **SHORT)
        assert p.thinking is not None
        assert (p.thinking.mode, p.thinking.max_tokens, p.thinking.end_marker) == (
            mode.thinking,
            4,
            ANSWER_MARKER,
        )
        assert (p.max_new_tokens, p.seed) == (8, 3)
        if mode.greedy:
            assert (p.n, p.temperature, p.thinking.noise_scale) == (1, 0.0, 0.0)
            expected_tau = {"hard": 0.0, "soft": 0.5, "fuzzy": 1e-4}[mode.thinking]
        else:
            assert (p.n, p.temperature, p.thinking.noise_scale) == (5, 1.0, 0.33)
            expected_tau = {"hard": 1.0, "soft": 0.5, "fuzzy": 1e-4}[mode.thinking]
        assert p.thinking.tau == expected_tau


def test_greedy_modes_are_deterministic_and_sampled_modes_draw_n(tiny: LoadedModel) -> None:
    sampler = Sampler(tiny.model, tiny.tokenizer)
    prompts = [chat_prompt(p) for p in PROBLEMS[:2]]
    for mode in INFERENCE_MODES:
        params = mode.params(samples=3, seed=0, **SHORT)
        first = sampler.generate(prompts, params)
        assert all(len(group) == params.n for group in first)
        if mode.greedy:
            # A different seed must not matter either: nothing is drawn.
            second = sampler.generate(prompts, replace(params, seed=99))
            texts = [[c.text for c in g] for g in first]
            assert texts == [[c.text for c in g] for g in second], mode.name
            if mode.thinking != "hard":
                assert all(c.thinking.sigma == 0 for g in first for c in g)
        else:
            assert params.n == 3


def test_cell_from_scores_counts_passes() -> None:
    scores = [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.5]]
    formats = [True] * 9 + [False] * 3
    steps = list(range(12))
    cell = cell_from_scores("soft", "soft-sample", scores, (1, 2, 4, 8), formats, steps)
    assert (cell.policy, cell.mode, cell.n_problems, cell.samples) == ("soft", "soft-sample", 3, 4)
    # A partial score (0.5) is not a pass.
    assert cell.pass_at_k[1].mean == pytest.approx((0.25 + 1.0 + 0.0) / 3)
    assert cell.pass_at_k[2].mean == pytest.approx((pass_at_k(4, 1, 2) + 1.0 + 0.0) / 3)
    assert cell.pass_at_k[4].mean == pytest.approx(2 / 3)
    assert cell.pass_at_k[4].n == 3
    assert cell.pass_at_k[8] is None  # more than the 4 samples drawn
    assert cell.format_rate == pytest.approx(0.75)
    assert cell.mean_thinking_steps == pytest.approx(5.5)

    assert cell.unjudged == 0

    unjudged = cell_from_scores(
        "p", "m", [[1.0, math.nan], [math.nan, 0.0]], (1,), [True] * 4, [0] * 4
    )
    assert (unjudged.correct_per_problem, unjudged.unjudged) == ([1, 0], 2)
    assert unjudged.to_json()["unjudged"] == 2

    greedy = cell_from_scores("base", "hard-greedy", [[1.0], [0.0]], (1, 4), [True, True], [2, 4])
    assert greedy.pass_at_k[1].mean == pytest.approx(0.5)
    assert greedy.pass_at_k[4] is None

    with pytest.raises(ValueError, match="same, positive number"):
        cell_from_scores("p", "m", [[1.0], [1.0, 0.0]], (1,), [True] * 3, [0] * 3)
    with pytest.raises(ValueError, match="expected 2 format flags"):
        cell_from_scores("p", "m", [[1.0], [0.0]], (1,), [True], [0, 0])


def test_matrix_over_two_policies(tiny: LoadedModel, tmp_path: Path) -> None:
    messages: list[str] = []
    report = evaluate_matrix(
        {"base": tiny, "other": (tiny.model, tiny.tokenizer)},
        PROBLEMS,
        samples=2,
        ks=(1, 2),
        batch_size=2,
        ood_problems=PROBLEMS[:1],
        heldout_texts=HELDOUT_TEXTS[:3],
        on_progress=messages.append,
        **SHORT,
    )
    assert report.policies == ["base", "other"]
    assert report.modes == [m.name for m in INFERENCE_MODES]
    assert len(report.cells) == 12
    for cell in report.cells:
        greedy = cell.mode.endswith("greedy")
        assert (cell.n_problems, cell.samples) == (3, 1 if greedy else 2)
        assert set(cell.pass_at_k) == {1, 2}
        assert (cell.pass_at_k[2] is None) == greedy
        assert cell.mean_thinking_steps == 4  # the marker never comes: the budget ends each
    # Same model, same per-problem seeds: both policies decode identically.
    for mode in report.modes:
        base, other = report.cell("base", mode), report.cell("other", mode)
        assert replace(base, policy="other") == other
    assert any("base / soft-sample: 2/3" in m for m in messages)

    for policy in ("base", "other"):
        ood = report.ood[policy]
        assert ood.pass_at_1 is not None and ood.pass_at_1.n == 1
        assert ood.heldout_log_likelihood is not None
        assert math.isfinite(ood.heldout_log_likelihood) and ood.heldout_log_likelihood < 0
    likelihood = heldout_log_likelihood(tiny.model, tiny.tokenizer, HELDOUT_TEXTS[:3])
    assert report.ood["base"].heldout_log_likelihood == pytest.approx(likelihood)

    report.write(tmp_path)
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert len(data["cells"]) == 12
    greedy_cell = next(c for c in data["cells"] if c["mode"] == "hard-greedy")
    assert greedy_cell["pass_at_k"]["pass@2"] is None
    assert set(greedy_cell["pass_at_k"]["pass@1"]) == {"mean", "low", "high", "n"}
    assert data["ood"]["base"]["heldout_log_likelihood"] < 0
    assert data["config"]["samples"] == 2
    assert (tmp_path / "matrix.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["matrix.json", "matrix.png"]

    console = Console(width=200, record=True)
    console.print(report.table())
    rendered = console.export_text()
    assert "pass@1 ±95% CI (pass@2)" in rendered
    assert "hard-greedy" in rendered and "fuzzy-sample" in rendered
    assert "base" in rendered and "other" in rendered


def test_greedy_answers_as_references_pass_exactly(tiny: LoadedModel) -> None:
    """References = the model's own hard-greedy answers for the first two problems (the
    third is off by a suffix): hard-greedy must pass exactly those two."""
    params = HARD_GREEDY.params(samples=1, seed=0, **SHORT)
    sampler = Sampler(tiny.model, tiny.tokenizer)
    answers = [g[0].text for g in sampler.generate([chat_prompt(p) for p in PROBLEMS], params)]
    references = [answers[0], answers[1], answers[2] + " (not it)"]
    problems = [replace(p, answer=a) for p, a in zip(PROBLEMS, references, strict=True)]
    report = evaluate_matrix(
        {"base": tiny},
        problems,
        modes=[HARD_GREEDY],
        samples=2,
        ks=(1,),
        heldout_texts=(),
        checker=ExactMatchReward(normalize=False),
        **SHORT,
    )
    assert report.cell("base", HARD_GREEDY.name).pass_at_k[1].mean == pytest.approx(2 / 3)


def test_report_with_known_values_renders() -> None:
    def ci(mean: float) -> MeanCI:
        return MeanCI(mean, mean - 0.1, mean + 0.1, 4)

    cells = [
        CellResult("base", "hard-greedy", 4, 1, {1: ci(0.25), 8: None}, 1.0, 3.0),
        CellResult("base", "soft-sample", 4, 8, {1: ci(0.125), 8: ci(0.5)}, 0.5, 2.0),
    ]
    report = MatrixReport(cells, {"base": OODResult(None, -2.5)})
    console = Console(width=200, record=True)
    console.print(report.table())
    rendered = console.export_text()
    assert "0.250 ±0.10" in rendered and "0.125 ±0.10 (0.500)" in rendered
    assert "-2.500" in rendered
    assert report.to_json()["ood"]["base"] == {"pass_at_1": None, "heldout_log_likelihood": -2.5}


def test_gain_over_base_is_paired() -> None:
    """Same problems, same seeds: the CI of the per-problem differences, not of each cell."""
    base = [[0.0], [1.0], [0.0], [1.0], [0.0], [0.0], [1.0], [0.0]]
    trained = [[1.0], [1.0], [0.0], [1.0], [1.0], [0.0], [1.0], [1.0]]  # +3 problems, -0
    cells = [
        cell_from_scores(name, "hard-greedy", scores, (1,), [True] * 8, [1] * 8)
        for name, scores in (("base", base), ("hard", trained))
    ]
    report = MatrixReport(cells)
    gain = report.gain("hard", "hard-greedy")
    assert gain.mean == pytest.approx(3 / 8)
    differences = [1, 0, 0, 0, 1, 0, 0, 1]
    sd = statistics.stdev(differences)
    assert gain.high - gain.mean == pytest.approx(2.365 * sd / 8**0.5, rel=0.01)  # t(7)
    assert report.to_json()["pass@1_gain_over_base"]["hard"]["hard-greedy"]["mean"] == 0.375
    console = Console(width=200, record=True)
    console.print(report.table())
    rendered = console.export_text()
    assert "hard - base" in rendered and "+0.375 ±0.43" in rendered
    assert MatrixReport(cells[1:]).gains() == {}  # no base model, no gains


def test_evaluate_matrix_rejects_bad_ks(tiny: LoadedModel) -> None:
    with pytest.raises(ValueError, match="every k"):
        evaluate_matrix({"base": tiny}, PROBLEMS, samples=2, ks=(1, 4))
