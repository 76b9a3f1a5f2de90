"""Scores of model answers on a dataset: per instance, per constraint, by constrainedness.

One answer is graded by its domain's per-constraint checks: it is all-correct when every check
passes and scores the fraction that pass (`grade_answer`, which the Benchmark service uses
too). With N samples per instance the report adds best-of-N (any sample all-correct),
worst-of-N (every sample all-correct) and majority vote (the most frequent answer, graded).
Means come with 95% confidence intervals across instances, the independent unit.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchagents.domains import Domain
from benchagents.instance import Instance
from reasonloop.atomic import write_atomic
from reasonloop.benchmarks import GradeResult
from reasonloop.metrics import MeanCI, mean_ci

if TYPE_CHECKING:
    from rich.table import Table

REPORT_JSON = "report.json"
REPORT_PNG = "report.png"


def grade_answer(domain: Domain, instance: Instance, answer: str) -> GradeResult:
    """The domain's checks of one answer, as a grade: score = fraction passed."""
    checks = tuple(domain.check(instance, answer))
    if not checks:
        raise ValueError(f"domain {domain.name!r} gave no checks for instance {instance.id!r}")
    passed = sum(c.passed for c in checks)
    return GradeResult(instance.id, passed / len(checks), passed == len(checks), checks)


def normalize_answer(answer: str) -> str:
    """What majority voting compares: the answer with its whitespace runs made one space."""
    return re.sub(r"\s+", " ", answer).strip()


@dataclass(frozen=True)
class InstanceScore:
    """One instance's N graded samples, and which sample the majority vote picked."""

    id: str
    constrainedness: int
    all_correct: list[bool]
    fraction_passed: list[float]
    majority_sample: int
    majority_votes: int

    @property
    def best(self) -> bool:
        return any(self.all_correct)

    @property
    def worst(self) -> bool:
        return all(self.all_correct)

    @property
    def majority(self) -> bool:
        return self.all_correct[self.majority_sample]


@dataclass(frozen=True)
class ConstraintRate:
    """How often one constraint's check passed, over every sample of every instance."""

    passed: int
    total: int

    @property
    def rate(self) -> float:
        return self.passed / self.total


@dataclass(frozen=True)
class Bucket:
    """The instances of one constrainedness level."""

    instances: int
    all_correct: MeanCI
    fraction_passed: MeanCI


@dataclass(frozen=True)
class ScoreReport:
    """Every metric of one model on one dataset. Build it with `score_answers`."""

    name: str
    samples: int
    all_correct: MeanCI
    fraction_passed: MeanCI
    best_of_n: MeanCI
    worst_of_n: MeanCI
    majority_vote: MeanCI
    per_constraint: dict[str, ConstraintRate]
    by_constrainedness: dict[int, Bucket]
    instances: list[InstanceScore]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["per_constraint"] = {
            name: {**asdict(rate), "rate": rate.rate} for name, rate in self.per_constraint.items()
        }
        data["by_constrainedness"] = {
            str(level): asdict(bucket) for level, bucket in self.by_constrainedness.items()
        }
        return data

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        """Write report.json (atomically) and report.png into `directory`; return both paths."""
        directory = Path(directory)
        write_atomic(directory / REPORT_JSON, json.dumps(self.to_json(), indent=2))
        return directory / REPORT_JSON, self.plot(directory / REPORT_PNG)

    def plot(self, path: str | Path) -> Path:
        """A PNG: pass rate per constraint, and accuracy by constrainedness with its 95% CI.

        Draws on a bare Agg figure (no pyplot), so it works headless and leaves global
        matplotlib state alone; matplotlib is imported only here.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(11, 4.2), layout="constrained")
        FigureCanvasAgg(figure)
        left, right = figure.subplots(1, 2)
        names = list(self.per_constraint)
        left.barh(names, [self.per_constraint[n].rate for n in names], color="tab:blue")
        left.invert_yaxis()
        left.set(xlim=(0, 1), xlabel="pass rate", title="per constraint")
        levels = list(self.by_constrainedness)
        buckets = [self.by_constrainedness[level] for level in levels]
        means = [b.all_correct.mean for b in buckets]
        errors = [
            [m - b.all_correct.low for m, b in zip(means, buckets, strict=True)],
            [b.all_correct.high - m for m, b in zip(means, buckets, strict=True)],
        ]
        right.bar(levels, means, yerr=errors, capsize=4, color="tab:green", label="all correct")
        right.plot(
            levels,
            [b.fraction_passed.mean for b in buckets],
            marker="o",
            color="tab:orange",
            label="fraction passed",
        )
        right.set(
            ylim=(0, 1.05),
            xticks=levels,
            xlabel="constrainedness",
            ylabel="mean (95% CI)",
            title="by constrainedness",
        )
        right.legend()
        figure.suptitle(f"{self.name}: {len(self.instances)} instances x {self.samples} samples")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", dpi=110)
        return path

    def table(self) -> Table:
        """The report as a rich table for the command line."""
        from rich.table import Table

        table = Table(title=f"{self.name} ({len(self.instances)} instances, N={self.samples})")
        for column in ("metric", "mean", "95% CI"):
            table.add_column(column)
        for label, ci in (
            ("all correct", self.all_correct),
            ("fraction passed", self.fraction_passed),
            (f"best of {self.samples}", self.best_of_n),
            (f"worst of {self.samples}", self.worst_of_n),
            ("majority vote", self.majority_vote),
        ):
            table.add_row(label, f"{ci.mean:.3f}", _interval(ci))
        table.add_section()
        for name, rate in self.per_constraint.items():
            table.add_row(f"constraint {name}", f"{rate.rate:.3f}", f"{rate.passed}/{rate.total}")
        table.add_section()
        for level, bucket in self.by_constrainedness.items():
            table.add_row(
                f"constrainedness {level} ({bucket.instances}): all correct",
                f"{bucket.all_correct.mean:.3f}",
                _interval(bucket.all_correct),
            )
        return table


def score_answers(
    instances: Sequence[Instance],
    domain: Domain,
    answers: Mapping[str, Sequence[str]],
    name: str | None = None,
) -> ScoreReport:
    """Grade `answers` (instance id -> its N samples, the same N for all) and report."""
    known = {i.id for i in instances}
    unknown = [task_id for task_id in answers if task_id not in known]
    if unknown:
        raise ValueError(f"answers for unknown instances: {', '.join(unknown[:5])}")
    missing = [i.id for i in instances if not answers.get(i.id)]
    if missing:
        raise ValueError(f"no answers for instances: {', '.join(missing[:5])}")
    return build_report(
        name or domain.name,
        [
            GradedInstance(
                i.id,
                domain.constrainedness(i),
                list(answers[i.id]),
                [grade_answer(domain, i, a) for a in answers[i.id]],
            )
            for i in instances
        ],
    )


@dataclass(frozen=True)
class GradedInstance:
    """An instance's sampled answers and their grades, in the same order."""

    id: str
    constrainedness: int
    answers: Sequence[str]
    grades: Sequence[GradeResult]


def build_report(name: str, graded: Sequence[GradedInstance]) -> ScoreReport:
    """A report from already graded samples, the same number for every instance.

    Grades may come from anywhere that runs the domain's checks, e.g. a remote Benchmark
    service; `score_answers` is the in-process way.
    """
    if not graded:
        raise ValueError("nothing to score: no instances")
    counts = {len(g.answers) for g in graded}
    if len(counts) > 1:
        raise ValueError(f"every instance needs the same number of samples, got {sorted(counts)}")
    scores: list[InstanceScore] = []
    per_constraint: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in graded:
        if len(item.answers) != len(item.grades):
            raise ValueError(
                f"instance {item.id!r}: {len(item.answers)} answers but {len(item.grades)} grades"
            )
        normalized = [normalize_answer(a) for a in item.answers]
        winner, count = Counter(normalized).most_common(1)[0]  # ties: the answer given first
        scores.append(
            InstanceScore(
                id=item.id,
                constrainedness=item.constrainedness,
                all_correct=[g.passed for g in item.grades],
                fraction_passed=[g.score for g in item.grades],
                majority_sample=normalized.index(winner),
                majority_votes=count,
            )
        )
        for grade in item.grades:
            for check in grade.checks:
                per_constraint[check.name][0] += check.passed
                per_constraint[check.name][1] += 1
    levels = sorted({s.constrainedness for s in scores})
    return ScoreReport(
        name=name,
        samples=counts.pop(),
        all_correct=_mean(scores, lambda s: _average(s.all_correct)),
        fraction_passed=_mean(scores, lambda s: _average(s.fraction_passed)),
        best_of_n=_mean(scores, lambda s: float(s.best)),
        worst_of_n=_mean(scores, lambda s: float(s.worst)),
        majority_vote=_mean(scores, lambda s: float(s.majority)),
        per_constraint={k: ConstraintRate(*v) for k, v in sorted(per_constraint.items())},
        by_constrainedness={
            level: Bucket(
                instances=len(mine := [s for s in scores if s.constrainedness == level]),
                all_correct=_mean(mine, lambda s: _average(s.all_correct)),
                fraction_passed=_mean(mine, lambda s: _average(s.fraction_passed)),
            )
            for level in levels
        },
        instances=scores,
    )


def _average(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _mean(scores: Sequence[InstanceScore], value: Callable[[InstanceScore], float]) -> MeanCI:
    return mean_ci(value(s) for s in scores)


def _interval(ci: MeanCI) -> str:
    return f"[{ci.low:.3f}, {ci.high:.3f}]"
