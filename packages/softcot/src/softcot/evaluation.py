"""The train-mode x inference-mode matrix: every policy decoded in every thinking mode.

"Soft Tokens, Hard Truths" (arXiv 2509.19170) asks whether a policy trained with soft or fuzzy
chains of thought still does well when it thinks with hard tokens, and the reverse. So each
policy (the base model and each trained run) is evaluated in hard, soft and fuzzy thinking,
greedily (pass@1) and sampled (pass@k, unbiased estimator with a 95% CI). The out-of-domain
check guards against RL damaging the model elsewhere: hard-greedy pass@1 on other problems
and the log-likelihood of plain encyclopedic text.
"""

from __future__ import annotations

import io
import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from rich.table import Table
from transformers import PreTrainedModel

from reasonloop.atomic import write_atomic
from reasonloop.benchmarks import TaskSource
from reasonloop.evaluate import grade_samples
from reasonloop.hashing import stable_hash
from reasonloop.metrics import MeanCI, check_pass_at_k, draw_heatmap, mean_ci, mean_pass_at_k
from reasonloop.models.loading import LoadedModel
from reasonloop.rewards import MathAnswerReward, Reward
from reasonloop.rewards.extraction import extract_final_answer
from reasonloop.sampling import SamplingParams, ThinkingConfig
from reasonloop.sampling.decoder import Sampler
from reasonloop.sampling.params import DEFAULT_NOISE_SCALE
from softcot.benchmark import math_benchmark
from softcot.prompts import ANSWER_MARKER, ANSWER_STOP, MathProblem, chat_prompt

__all__ = [
    "HELDOUT_TEXTS",
    "INFERENCE_MODES",
    "CellResult",
    "InferenceMode",
    "MatrixReport",
    "OODResult",
    "cell_from_scores",
    "evaluate_matrix",
    "heldout_log_likelihood",
]

Policy = LoadedModel | tuple[PreTrainedModel, Any]
BASE = "base"  # the base model's policy name, what trained policies are compared with


@dataclass(frozen=True)
class InferenceMode:
    """How the chain of thought and the answer are decoded at evaluation time."""

    name: str
    thinking: Literal["hard", "soft", "fuzzy"]
    greedy: bool

    def params(
        self, *, samples: int, max_new_tokens: int, thinking_tokens: int, seed: int
    ) -> SamplingParams:
        """Greedy modes decode one deterministic sample (argmax tokens, noise-free soft
        inputs); sampled modes draw `samples` at temperature 1, as the paper does for pass@k."""
        thinking = ThinkingConfig(
            mode=self.thinking,
            temperature=0.0 if self.greedy and self.thinking == "hard" else None,
            noise_scale=0.0 if self.greedy else DEFAULT_NOISE_SCALE,
            max_tokens=thinking_tokens,
            end_marker=ANSWER_MARKER,
        )
        return SamplingParams(
            max_new_tokens=max_new_tokens,
            temperature=0.0 if self.greedy else 1.0,
            n=1 if self.greedy else samples,
            seed=seed,
            stop=ANSWER_STOP,
            include_stop=True,
            thinking=thinking,
        )


INFERENCE_MODES: tuple[InferenceMode, ...] = tuple(
    InferenceMode(f"{thinking}-{'greedy' if greedy else 'sample'}", thinking, greedy)
    for thinking in ("hard", "soft", "fuzzy")
    for greedy in (True, False)
)
HARD_GREEDY = INFERENCE_MODES[0]

# General English prose, far from the math the policies are trained on: a drop in its
# likelihood shows what RL fine-tuning cost the model outside its domain.
HELDOUT_TEXTS: tuple[str, ...] = (
    "The Nile is a major north-flowing river in northeastern Africa. It flows into the "
    "Mediterranean Sea and has historically been considered the longest river in the world.",
    "Photosynthesis is the process by which green plants use sunlight, water and carbon "
    "dioxide to produce oxygen and energy in the form of sugar.",
    "The Great Wall of China is a series of fortifications built across the historical "
    "northern borders of ancient Chinese states to protect them against nomadic groups.",
    "Johann Sebastian Bach was a German composer of the Baroque period, known for works such "
    "as the Brandenburg Concertos and the Mass in B minor.",
    "A volcano is a rupture in the crust of a planet that allows hot lava, volcanic ash and "
    "gases to escape from a magma chamber below the surface.",
    "The printing press, developed by Johannes Gutenberg around 1440, made books far cheaper "
    "and helped spread literacy across Europe.",
    "Honey bees live in large colonies with a single queen, many female workers and, in the "
    "warmer months, a smaller number of male drones.",
    "The Amazon rainforest covers much of the Amazon basin of South America and is home to an "
    "enormous variety of plants, insects, birds and mammals.",
    "William Shakespeare was an English playwright and poet whose plays, including Hamlet and "
    "Macbeth, are still performed around the world.",
    "Coffee is a drink prepared from roasted coffee beans. It was first cultivated on the "
    "Arabian Peninsula and later spread to the rest of the world.",
    "The Moon is Earth's only natural satellite. Its gravity causes the ocean tides, and its "
    "surface is covered with craters formed by ancient impacts.",
    "A library is a collection of books and other materials that people may read or borrow, "
    "usually kept by a town, a school or a university.",
)


@dataclass(frozen=True)
class CellResult:
    """One policy decoded in one inference mode.

    `pass_at_k[k]` is None where k exceeds the samples per problem (every k > 1 for greedy
    modes, which decode one deterministic sample).
    """

    policy: str
    mode: str
    n_problems: int
    samples: int
    pass_at_k: dict[int, MeanCI | None]
    format_rate: float  # fraction of samples stating an extractable final answer
    mean_thinking_steps: float
    correct_per_problem: list[int] = field(default_factory=list)  # in the problems' order
    unjudged: int = 0  # samples the reward could not judge (NaN: math timeouts), not correct

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pass_at_k"] = {
            f"pass@{k}": None if v is None else asdict(v) for k, v in self.pass_at_k.items()
        }
        return data


@dataclass(frozen=True)
class OODResult:
    """Out-of-domain health of one policy."""

    pass_at_1: MeanCI | None  # hard-greedy on the OOD problems; None when none were given
    heldout_log_likelihood: float | None  # mean per-token log-prob; None without texts

    def to_json(self) -> dict[str, Any]:
        return {
            "pass_at_1": None if self.pass_at_1 is None else asdict(self.pass_at_1),
            "heldout_log_likelihood": self.heldout_log_likelihood,
        }


def cell_from_scores(
    policy: str,
    mode: str,
    scores_per_problem: Sequence[Sequence[float]],
    ks: Sequence[int],
    format_flags: Sequence[bool],
    steps: Sequence[int],
) -> CellResult:
    """Aggregate graded samples into a cell; a sample counts as correct when its score is 1.
    A NaN score (the reward could not judge the sample) is not correct and is counted apart.

    `scores_per_problem[i]` holds the scores of problem i's samples (the same number for
    every problem); `format_flags` and `steps` have one entry per sample, in any order.
    """
    if not scores_per_problem:
        raise ValueError("no problems to aggregate")
    samples = len(scores_per_problem[0])
    if samples < 1 or any(len(s) != samples for s in scores_per_problem):
        raise ValueError("every problem needs the same, positive number of samples")
    total = samples * len(scores_per_problem)
    if len(format_flags) != total or len(steps) != total:
        raise ValueError(
            f"expected {total} format flags and steps, got {len(format_flags)} and {len(steps)}"
        )
    correct = [sum(score == 1.0 for score in scores) for scores in scores_per_problem]
    return CellResult(
        policy=policy,
        mode=mode,
        n_problems=len(scores_per_problem),
        samples=samples,
        pass_at_k={k: mean_pass_at_k(correct, samples, k) if k <= samples else None for k in ks},
        format_rate=sum(map(bool, format_flags)) / total,
        mean_thinking_steps=statistics.fmean(steps),
        correct_per_problem=correct,
        unjudged=sum(math.isnan(score) for scores in scores_per_problem for score in scores),
    )


@dataclass
class MatrixReport:
    """Every (policy, mode) cell plus each policy's out-of-domain check."""

    cells: list[CellResult]
    ood: dict[str, OODResult] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the run's settings, for the record

    @property
    def policies(self) -> list[str]:
        return list(dict.fromkeys(c.policy for c in self.cells))

    @property
    def modes(self) -> list[str]:
        return list(dict.fromkeys(c.mode for c in self.cells))

    @property
    def ks(self) -> list[int]:
        return sorted({k for c in self.cells for k in c.pass_at_k})

    def cell(self, policy: str, mode: str) -> CellResult:
        for c in self.cells:
            if c.policy == policy and c.mode == mode:
                return c
        raise KeyError(f"no cell for policy {policy!r} in mode {mode!r}")

    def gain(self, policy: str, mode: str, baseline: str = BASE) -> MeanCI:
        """pass@1 of `policy` minus `baseline`'s in `mode`, with a paired 95% CI.

        Both were decoded on the same problems with the same per-problem seeds, so the
        per-problem differences are paired: their CI is much narrower than the two cells'
        intervals side by side, which would ignore that the same problems are hard for both.
        """
        ours, theirs = self.cell(policy, mode), self.cell(baseline, mode)
        if len(ours.correct_per_problem) != len(theirs.correct_per_problem):
            raise ValueError(f"{policy} and {baseline} were not evaluated on the same problems")
        return mean_ci(
            a / ours.samples - b / theirs.samples
            for a, b in zip(ours.correct_per_problem, theirs.correct_per_problem, strict=True)
        )

    def gains(self, baseline: str = BASE) -> dict[str, dict[str, MeanCI]]:
        """{policy: {mode: gain}} for every policy but `baseline` (empty without it)."""
        if baseline not in self.policies:
            return {}
        return {
            policy: {mode: self.gain(policy, mode, baseline) for mode in self.modes}
            for policy in self.policies
            if policy != baseline
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "cells": [c.to_json() for c in self.cells],
            "ood": {policy: result.to_json() for policy, result in self.ood.items()},
            "pass@1_gain_over_base": {
                policy: {mode: asdict(gain) for mode, gain in by_mode.items()}
                for policy, by_mode in self.gains().items()
            },
        }

    def write(self, out_dir: str | Path) -> None:
        """Write `matrix.json` and `matrix.png`, each atomically (never half a file)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(out_dir / "matrix.json", json.dumps(self.to_json(), indent=2))
        write_atomic(out_dir / "matrix.png", self._png())

    def table(self) -> Table:
        """Rows are policies, columns modes; each cell reads "pass@1 ±95% CI (pass@kmax)",
        and each trained policy gets a row of its paired pass@1 gain over the base model."""
        k_max = max(self.ks, default=1)
        table = Table(title=f"pass@1 ±95% CI (pass@{k_max})")
        table.add_column("policy", style="bold")
        for mode in self.modes:
            table.add_column(mode, justify="right")
        if self.ood:
            table.add_column("OOD pass@1", justify="right")
            table.add_column("held-out LL", justify="right")
        for policy in self.policies:
            row = []
            for mode in self.modes:
                pass_at = self.cell(policy, mode).pass_at_k
                text = _with_ci(pass_at.get(1))
                if k_max > 1 and pass_at.get(k_max) is not None:
                    text += f" ({_number(pass_at[k_max])})"
                row.append(text)
            if self.ood:
                ood = self.ood.get(policy)
                row.append(_number(ood.pass_at_1) if ood else "-")
                row.append(_number(ood.heldout_log_likelihood) if ood else "-")
            table.add_row(policy, *row)
        for policy, by_mode in self.gains().items():
            extra = ["", ""] if self.ood else []
            table.add_row(
                f"{policy} - base",
                *(_signed_with_ci(by_mode[mode]) for mode in self.modes),
                *extra,
                style="italic",
            )
        return table

    def _png(self) -> bytes:
        """Left: pass@1 heatmap (policies x modes); right: pass@k curves of sampled modes."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        policies, modes = self.policies, self.modes
        figure = Figure(figsize=(12, 0.5 * len(policies) + 4), layout="constrained")
        FigureCanvasAgg(figure)
        heat, curves = figure.subplots(1, 2, width_ratios=(1.2, 1))

        draw_heatmap(
            heat,
            [[_mean(self.cell(p, m).pass_at_k.get(1)) for m in modes] for p in policies],
            rows=policies,
            columns=modes,
            title="pass@1",
            xlabel="inference mode",
            ylabel="policy",
        )

        # Greedy modes have pass@1 only, so no curve; each sampled mode gets its own line style.
        styles = ("-", "--", ":", "-.")
        sampled = [m for m in modes if any(self.cell(p, m).samples > 1 for p in policies)]
        for i, policy in enumerate(policies):
            for j, mode in enumerate(sampled):
                points = [
                    (k, v.mean)
                    for k, v in sorted(self.cell(policy, mode).pass_at_k.items())
                    if v is not None
                ]
                ks, means = zip(*points, strict=True)
                curves.plot(
                    ks,
                    means,
                    marker="o",
                    markersize=3,
                    color=f"C{i}",  # one colour per policy
                    linestyle=styles[j % len(styles)],
                    label=f"{policy} / {mode}",
                )
        curves.set_xscale("log", base=2)
        curves.set_xticks(self.ks, [str(k) for k in self.ks])
        curves.set(title="pass@k (sampled modes)", xlabel="k", ylabel="pass@k", ylim=(-0.02, 1.02))
        curves.grid(alpha=0.3)
        if curves.lines:
            curves.legend(fontsize=8)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110)
        return buffer.getvalue()


def _mean(value: MeanCI | None) -> float:
    return float("nan") if value is None else value.mean


def _number(value: MeanCI | float | None) -> str:
    if value is None:
        return "-"
    return f"{value.mean if isinstance(value, MeanCI) else value:.3f}"


def _with_ci(value: MeanCI | None) -> str:
    """`mean ±half-width` (the t intervals of `mean_ci` are symmetric)."""
    if value is None:
        return "-"
    return f"{value.mean:.3f} ±{value.high - value.mean:.2f}"


def _signed_with_ci(value: MeanCI) -> str:
    return f"{value.mean:+.3f} ±{value.high - value.mean:.2f}"


def _run_cell(
    sampler: Sampler,
    policy: str,
    mode: InferenceMode,
    problems: Sequence[MathProblem],
    *,
    samples: int,
    ks: Sequence[int],
    max_new_tokens: int,
    thinking_tokens: int,
    batch_size: int,
    seed: int,
    grader: TaskSource,
    progress: Callable[[str], None],
) -> CellResult:
    """Decode every problem in one mode and grade it with `grader` (whose task ids are the
    problems' ids), `batch_size` problems at a time."""
    scores: list[list[float]] = []
    formats: list[bool] = []
    steps: list[int] = []
    for start in range(0, len(problems), batch_size):
        batch = problems[start : start + batch_size]
        params = [
            mode.params(
                samples=samples,
                max_new_tokens=max_new_tokens,
                thinking_tokens=thinking_tokens,
                seed=stable_hash(seed, p.id),  # a problem's samples do not depend on its batch
            )
            for p in batch
        ]
        groups = sampler.generate([chat_prompt(p) for p in batch], params)
        texts = [[c.text for c in group] for group in groups]
        grades = grade_samples(grader, [p.id for p in batch], texts)
        scores.extend([g.reward for g in mine] for mine in grades)  # NaN: not judged
        formats.extend(extract_final_answer(t) is not None for group in texts for t in group)
        steps.extend(len(c.thinking.tokens) if c.thinking else 0 for g in groups for c in g)
        progress(f"{policy} / {mode.name}: {start + len(batch)}/{len(problems)} problems")
    return cell_from_scores(policy, mode.name, scores, ks, formats, steps)


@torch.inference_mode()
def heldout_log_likelihood(model: PreTrainedModel, tokenizer: Any, texts: Sequence[str]) -> float:
    """Mean per-token log-prob of each text under teacher forcing, averaged over texts."""
    per_text = []
    for text in texts:
        ids = torch.tensor(tokenizer.encode(text), device=model.device)
        if len(ids) < 2:
            raise ValueError(f"held-out text {text!r} has fewer than two tokens")
        log_probs = torch.log_softmax(model(ids[None]).logits[0, :-1].float(), dim=-1)
        per_text.append(float(log_probs.gather(1, ids[1:, None]).mean()))
    return statistics.fmean(per_text)


def evaluate_matrix(
    policies: Mapping[str, Policy],
    problems: Sequence[MathProblem],
    *,
    modes: Sequence[InferenceMode] = INFERENCE_MODES,
    samples: int = 8,
    ks: Sequence[int] = (1, 4, 8),
    max_new_tokens: int = 64,
    thinking_tokens: int = 64,
    batch_size: int = 16,
    seed: int = 0,
    ood_problems: Sequence[MathProblem] = (),
    heldout_texts: Sequence[str] = HELDOUT_TEXTS,
    on_progress: Callable[[str], None] | None = None,
    checker: Reward | None = None,
) -> MatrixReport:
    """Cross every policy (a `LoadedModel` or a (model, tokenizer) pair) with every mode.

    Sampled modes draw `samples` answers per problem and report pass@k for each k in `ks`;
    greedy modes report pass@1 only. Each problem gets its own seed, derived from `seed`
    and its id, so every policy sees the same random draws (a paired comparison). Answers
    are graded against the problems' answers by `checker` (math-verify by default).
    """
    if not policies or not problems or not modes:
        raise ValueError("need at least one policy, one problem and one mode")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_pass_at_k(samples, ks)
    ks = sorted({1, *ks})  # pass@1 is always reported: it is the only greedy number
    progress = on_progress or (lambda message: None)
    run = partial(
        _run_cell,
        samples=samples,
        ks=ks,
        max_new_tokens=max_new_tokens,
        thinking_tokens=thinking_tokens,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
    checker = checker or MathAnswerReward()  # one set of workers for both problem sets
    grader = math_benchmark(problems, "eval", checker)
    ood_grader = math_benchmark(ood_problems, "ood", checker) if ood_problems else None
    cells: list[CellResult] = []
    ood: dict[str, OODResult] = {}
    for name, policy in policies.items():
        model, tokenizer = (
            (policy.model, policy.tokenizer) if isinstance(policy, LoadedModel) else policy
        )
        sampler = Sampler(model, tokenizer)
        cells.extend(run(sampler, name, mode, problems, grader=grader) for mode in modes)
        ood_pass = None
        if ood_grader is not None:
            ood_cell = run(sampler, f"{name} (OOD)", HARD_GREEDY, ood_problems, grader=ood_grader)
            ood_pass = ood_cell.pass_at_k[1]
        likelihood = None
        if heldout_texts:
            likelihood = heldout_log_likelihood(model, tokenizer, heldout_texts)
        ood[name] = OODResult(ood_pass, likelihood)
        progress(f"{name}: out-of-domain check done")
    config = {
        "modes": [asdict(m) for m in modes],
        "n_problems": len(problems),
        "n_ood_problems": len(ood_problems),
        "n_heldout_texts": len(heldout_texts),
        "samples": samples,
        "ks": ks,
        "max_new_tokens": max_new_tokens,
        "thinking_tokens": thinking_tokens,
        "batch_size": batch_size,
        "seed": seed,
    }
    return MatrixReport(cells, ood, config)
