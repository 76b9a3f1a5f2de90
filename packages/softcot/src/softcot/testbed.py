"""The CPU testbed: hard, soft and fuzzy RL from one warm start, compared as the paper does.

"Soft Tokens, Hard Truths" claims that RL on soft or fuzzy chains of thought matches hard
training at pass@1, beats it at pass@32 and preserves out-of-domain behaviour. Checking that
needs a model whose thought matters and whose RL steps are cheap, which SmolLM2 with LoRA on
two cores is not. The testbed is:

- a task family where thinking pays (`softcot.carry`: column addition, the answer after a
  column-by-column worked solution);
- a supervised warm start on worked solutions (`softcot.warmstart`, cached);
- softcot's own trainer run once per (train mode, seed) from that same start, same budget;
- softcot's evaluation matrix over every policy x inference mode, then pooled over seeds:
  pass@1 and pass@k with 95% CIs, each mode's paired difference to hard training, the
  out-of-domain check (the held-out three-number family, and the log-likelihood of its worked
  solutions), and the check that the thought matters (the warm start answering with and
  without it).

Confidence intervals: each problem's pass@k is averaged over the seeds of a train mode, and
the interval is Student's t across problems; differences are paired by problem (every policy
decodes the same problems with the same per-problem seeds).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table

from reasonloop.atomic import write_atomic
from reasonloop.metrics import MeanCI, mean_ci, pass_at_k, read_jsonl
from softcot.carry import solution_text
from softcot.config import TestbedConfig
from softcot.prompts import MathProblem
from softcot.warmstart import warm_start

BASE = "base"
REPORT_FILE = "testbed.json"
TREND_STEPS = 10  # training reward is reported over the first and the last this many steps


@dataclass(frozen=True)
class Comparison:
    """One number of the report: a pooled mean with its 95% CI."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, value: MeanCI) -> Comparison:
        return cls(value.mean, value.low, value.high, value.n)

    def text(self, signed: bool = False) -> str:
        return f"{self.mean:{'+' if signed else ''}.2f}±{self.high - self.mean:.2f}"


@dataclass
class TestbedReport:
    """The three comparisons, pooled over seeds (see the module docstring for the CIs)."""

    train_modes: list[str]  # "base" first
    inference_modes: list[str]
    k: int  # the largest k reported (pass@k)
    seeds: list[int]
    # [train mode][inference mode]["pass@1" | "pass@k"]
    matrix: dict[str, dict[str, dict[str, Comparison]]]
    # [train mode][inference mode]["pass@1" | "pass@k"]: paired difference to hard training
    versus_hard: dict[str, dict[str, dict[str, Comparison]]]
    ood_pass_at_1: dict[str, Comparison]  # hard-greedy on the held-out family
    ood_versus_base: dict[str, Comparison]  # paired difference to the warm start
    heldout_log_likelihood: dict[str, float]  # mean over seeds
    thought_matters: dict[str, Comparison]  # warm start, hard-greedy: with / without / diff
    # [train mode]: mean over seeds of s/step and of the training reward in the first and
    # the last `TREND_STEPS` steps (from the runs' logs)
    training: dict[str, dict[str, float]]

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def write(self, out_dir: Path) -> None:
        write_atomic(out_dir / REPORT_FILE, json.dumps(self.to_json(), indent=2))

    def tables(self) -> Group:
        k = self.k
        matrix = Table(title=f"train mode x inference mode: pass@1 / pass@{k}, ±95% CI")
        matrix.add_column("train", style="bold")
        for mode in self.inference_modes:
            matrix.add_column(mode, justify="right")
        for train in self.train_modes:
            matrix.add_row(
                train, *(self._cell(self.matrix[train][m]) for m in self.inference_modes)
            )
        for train, by_mode in self.versus_hard.items():
            matrix.add_row(
                f"{train} - hard",
                *(self._cell(by_mode[m], signed=True) for m in self.inference_modes),
                style="italic",
            )
        ood = Table(title="out of domain: held-out family (3 numbers) and held-out solutions")
        for column in ("train", "OOD pass@1", "minus base", "held-out LL"):
            ood.add_column(column, justify="left" if column == "train" else "right")
        for train in self.train_modes:
            gap = self.ood_versus_base.get(train)
            ood.add_row(
                train,
                self.ood_pass_at_1[train].text(),
                gap.text(signed=True) if gap else "-",
                f"{self.heldout_log_likelihood[train]:.4f}",
            )
        trend = Table(title=f"training: reward in the first and the last {TREND_STEPS} RL steps")
        for column in ("train", "reward first", "reward last", "s/step"):
            trend.add_column(column, justify="left" if column == "train" else "right")
        for train, values in self.training.items():
            trend.add_row(
                train,
                f"{values['reward_first']:.3f}",
                f"{values['reward_last']:.3f}",
                f"{values['s_per_step']:.2f}",
            )
        thought = self.thought_matters
        summary = (
            f"the thought matters: warm start hard-greedy pass@1 {thought['with'].text()} with "
            f"it, {thought['without'].text()} without (paired {thought['difference'].text(True)})"
        )
        return Group(matrix, ood, trend, summary)

    def _cell(self, values: dict[str, Comparison], signed: bool = False) -> str:
        first = values["pass@1"].text(signed)
        more = values.get("pass@k")
        return first if more is None else f"{first} / {more.text(signed)}"


def _per_problem(correct: Sequence[int], samples: int, k: int) -> list[float]:
    return [pass_at_k(samples, c, k) for c in correct]


def _pooled(cells: Sequence[Any], k: int) -> list[float]:
    """Each problem's pass@k averaged over the cells (one per seed) of a train mode."""
    per_seed = [_per_problem(c.correct_per_problem, c.samples, k) for c in cells]
    return [statistics.fmean(values) for values in zip(*per_seed, strict=True)]


def _difference(ours: list[float], theirs: list[float]) -> Comparison:
    return Comparison.of(mean_ci(a - b for a, b in zip(ours, theirs, strict=True)))


def heldout_texts(problems: Sequence[MathProblem]) -> list[str]:
    """Whole worked solutions (prompt, thought, answer) of held-out problems, as text."""
    return [f"{p.prompt}{solution_text(p)}" for p in problems]


def _train_runs(
    config: TestbedConfig, spec: Path, out_dir: Path, progress: Callable[[str], None]
) -> dict[tuple[str, int], Path]:
    """Train (or finish, or skip: runs resume) every (mode, seed); their run directories."""
    from softcot.trainer import Trainer

    runs = {}
    for mode in config.testbed.modes:
        for seed in config.testbed.seeds:
            run_dir = out_dir / "runs" / f"{mode}-seed{seed}"
            trainer = Trainer(config.run_config(spec, mode, seed), run_dir, resume=True)
            total = trainer.config.train.steps

            def on_step(
                record: Any, mode: str = mode, seed: int = seed, total: int = total
            ) -> None:
                progress(
                    f"RL {mode} seed {seed}: step {record.step}/{total} reward "
                    f"{record.reward:.2f} ({record.step_s:.2f} s/step)"
                )

            trainer.train(on_step)
            if trainer.interrupted:
                raise KeyboardInterrupt
            runs[mode, seed] = run_dir
    return runs


def _training(runs: dict[tuple[str, int], Path]) -> dict[str, dict[str, float]]:
    """Each mode's s/step and training reward early and late, averaged over its seeds."""
    from softcot.trainer import LOG_FILE

    per_run: dict[str, list[dict[str, float]]] = {}
    for (mode, _), run_dir in runs.items():
        log = read_jsonl(run_dir / LOG_FILE)
        per_run.setdefault(mode, []).append(
            {
                "s_per_step": statistics.fmean(r["step_s"] for r in log),
                "reward_first": statistics.fmean(r["reward"] for r in log[:TREND_STEPS]),
                "reward_last": statistics.fmean(r["reward"] for r in log[-TREND_STEPS:]),
            }
        )
    return {
        mode: {key: statistics.fmean(r[key] for r in rows) for key in rows[0]}
        for mode, rows in per_run.items()
    }


def run_testbed(
    config: TestbedConfig, out_dir: str | Path, progress: Callable[[str], None] | None = None
) -> TestbedReport:
    """Warm start (cached), RL per (mode, seed) (resumable), evaluation, pooled report.

    Writes `testbed.json` (the report) and `matrix/` (every policy's cells) under `out_dir`.
    """
    from reasonloop.models.loading import load_model
    from softcot.evaluation import INFERENCE_MODES, evaluate_matrix
    from softcot.problems import load_problems
    from softcot.trainer import load_policy, problems_for

    out_dir = Path(out_dir)
    say = progress or (lambda message: None)
    known = {m.name: m for m in INFERENCE_MODES}
    unknown = [m for m in config.eval.modes if m not in known]
    if unknown:
        raise ValueError(f"unknown inference modes {unknown}; known: {', '.join(known)}")
    if "hard-greedy" not in config.eval.modes:
        raise ValueError('eval.modes must include "hard-greedy" (the thought-matters check)')
    total = config.warmstart.steps

    def warm_progress(step: int, loss: float) -> None:
        if step % 25 == 0 or step == total:
            say(f"supervised warm start: step {step}/{total} loss {loss:.3f}")

    spec = warm_start(config.warmstart, warm_progress)
    runs = _train_runs(config, spec, out_dir, say)

    policies = {BASE: load_model(str(spec), device="cpu")}
    for (mode, seed), run_dir in runs.items():
        policies[f"{mode}/{seed}"] = load_policy(run_dir, device="cpu")[1]
    ev = config.eval
    test = problems_for(config, "test")
    ood = load_problems(config.data.ood, split="test", limit=config.testbed.ood_count, seed=0)
    evaluate = partial(
        evaluate_matrix,
        max_new_tokens=ev.max_new_tokens,
        thinking_tokens=ev.thinking_tokens,
        batch_size=ev.batch_size,
        seed=config.train.seed,
        on_progress=lambda what: say(f"evaluating {what}"),
    )
    hard_greedy = known["hard-greedy"]
    matrix = evaluate(
        policies,
        test,
        modes=[known[m] for m in ev.modes],
        samples=ev.samples,
        ks=ev.ks,
        heldout_texts=(),
    )
    matrix.write(out_dir / "matrix")
    outside = evaluate(
        policies,
        ood,
        modes=[hard_greedy],
        samples=1,
        ks=[1],
        heldout_texts=heldout_texts(ood[: config.testbed.heldout_texts]),
    )
    unthought = evaluate(
        {BASE: policies[BASE]},
        test,
        modes=[hard_greedy],
        samples=1,
        ks=[1],
        heldout_texts=(),
        thinking_tokens=0,
    )
    report = _report(config, matrix, outside, unthought, _training(runs))
    report.write(out_dir)
    return report


def _report(
    config: TestbedConfig,
    matrix: Any,
    outside: Any,
    unthought: Any,
    training: dict[str, dict[str, float]],
) -> TestbedReport:
    """Pool the evaluations over seeds into the three comparisons."""
    k = max(config.eval.ks)
    trained = list(config.testbed.modes)
    names = {BASE: [BASE], **{m: [f"{m}/{s}" for s in config.testbed.seeds] for m in trained}}
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    for train, policies in names.items():
        table[train] = {}
        for mode in matrix.modes:
            cells = [matrix.cell(p, mode) for p in policies]
            table[train][mode] = {"pass@1": _pooled(cells, 1)}
            if cells[0].samples >= k > 1:
                table[train][mode]["pass@k"] = _pooled(cells, k)
    summary = {
        train: {
            mode: {what: Comparison.of(mean_ci(v)) for what, v in values.items()}
            for mode, values in by_mode.items()
        }
        for train, by_mode in table.items()
    }
    versus_hard = {}
    if "hard" in trained:
        versus_hard = {
            train: {
                mode: {
                    what: _difference(values, table["hard"][mode][what])
                    for what, values in by_mode.items()
                }
                for mode, by_mode in table[train].items()
            }
            for train in trained
            if train != "hard"
        }
    hard_greedy = outside.modes[0]
    ood = {t: _pooled([outside.cell(p, hard_greedy) for p in ps], 1) for t, ps in names.items()}
    with_thought = _pooled([matrix.cell(BASE, "hard-greedy")], 1)
    without = _pooled([unthought.cell(BASE, hard_greedy)], 1)
    return TestbedReport(
        train_modes=list(names),
        inference_modes=matrix.modes,
        k=k,
        seeds=list(config.testbed.seeds),
        matrix=summary,
        versus_hard=versus_hard,
        ood_pass_at_1={t: Comparison.of(mean_ci(v)) for t, v in ood.items()},
        ood_versus_base={t: _difference(ood[t], ood[BASE]) for t in trained},
        heldout_log_likelihood={
            t: statistics.fmean(outside.ood[p].heldout_log_likelihood for p in ps)
            for t, ps in names.items()
        },
        thought_matters={
            "with": Comparison.of(mean_ci(with_thought)),
            "without": Comparison.of(mean_ci(without)),
            "difference": _difference(with_thought, without),
        },
        training=training,
    )
