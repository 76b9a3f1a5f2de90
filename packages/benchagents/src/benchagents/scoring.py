"""Scores of model answers on a dataset: per instance, per constraint, by constrainedness.

One answer is graded by its domain's per-constraint checks: it is all-correct when every check
passes and scores the fraction that pass (`grade_answer`, which the Benchmark service uses
too). With N samples per instance the report adds best-of-N (any sample all-correct),
worst-of-N (every sample all-correct) and majority vote (the most frequent answer, graded).
Means come with 95% confidence intervals across instances, the independent unit.

Two metrics: `strict` (our checks) and, for the calendar domain, `reference` (BA-Calendar's
published metric, reproduced with its quirks in `domains.calendar.ba_calendar_reference`). A
report is in the metric asked for and carries the other one beside it (`alternate`), with the
answers on which their verdicts differ counted by reason (`disagreements`). A reference report
groups instances by the published constrainedness bucket (0.0-1.0 in tenths), a strict one by the
domain's own (calendar: the number of active optional constraints).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from benchagents.domains import Domain
from benchagents.instance import Instance
from reasonloop.atomic import write_atomic
from reasonloop.benchmarks import GradeResult
from reasonloop.metrics import MeanCI, mean_ci

if TYPE_CHECKING:
    from rich.table import Table

REPORT_JSON = "report.json"
REPORT_PNG = "report.png"
Metric = Literal["strict", "reference"]
METRICS: tuple[Metric, ...] = ("strict", "reference")
Grader = Callable[[Instance, str], GradeResult]


def grade_answer(domain: Domain, instance: Instance, answer: str) -> GradeResult:
    """The domain's checks of one answer, as a grade: score = fraction passed."""
    checks = tuple(domain.check(instance, answer))
    if not checks:
        raise ValueError(f"domain {domain.name!r} gave no checks for instance {instance.id!r}")
    passed = sum(c.passed for c in checks)
    return GradeResult(instance.id, passed / len(checks), passed == len(checks), checks)


def reference_grader(domain: Domain) -> Grader | None:
    """The domain's reference-compatible grader, if it has one (calendar: BA-Calendar's)."""
    from benchagents.domains.calendar.domain import CalendarDomain

    if isinstance(domain, CalendarDomain):
        from benchagents.domains.calendar.ba_calendar_reference import grade_reference

        return grade_reference
    return None


def normalize_answer(answer: str) -> str:
    """What majority voting compares: the answer with its whitespace runs made one space."""
    return re.sub(r"\s+", " ", answer).strip()


@dataclass(frozen=True)
class InstanceScore:
    """One instance's N graded samples, and which sample the majority vote picked."""

    id: str
    constrainedness: float
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
    by_constrainedness: dict[float, Bucket]
    instances: list[InstanceScore]
    metric: Metric = "strict"
    alternate: ScoreReport | None = None  # the same answers under the other metric
    disagreements: dict[str, int] = field(default_factory=dict)  # reason -> answers

    def to_json(self) -> dict[str, Any]:
        data = asdict(replace(self, alternate=None))
        data["alternate"] = self.alternate.to_json() if self.alternate else None
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
        rates = [self.per_constraint[n] for n in names]
        bars = left.barh(names, [r.rate for r in rates], color="tab:blue")
        # counts beside the bars: a zero rate is a number to read, not a missing bar
        left.bar_label(bars, [f"{r.passed}/{r.total}" for r in rates], padding=3, fontsize=8)
        left.invert_yaxis()
        left.set(xlim=(0, 1.15), xticks=[0, 0.25, 0.5, 0.75, 1], xlabel="pass rate")
        left.set_title("per constraint (passed/checked)")
        levels = list(self.by_constrainedness)
        buckets = [self.by_constrainedness[level] for level in levels]
        means = [b.all_correct.mean for b in buckets]
        errors = [
            [m - b.all_correct.low for m, b in zip(means, buckets, strict=True)],
            [b.all_correct.high - m for m, b in zip(means, buckets, strict=True)],
        ]
        gaps = [b - a for a, b in pairwise(levels)]
        width = 0.8 * min(gaps, default=1)  # levels 1 apart (counts) or 0.1 (reference)
        right.bar(
            levels, means, width, yerr=errors, capsize=4, color="tab:green", label="all correct"
        )
        right.plot(
            levels,
            [b.fraction_passed.mean for b in buckets],
            marker="o",
            color="tab:orange",
            label="fraction passed",
        )
        right.set(
            ylim=(-0.04, 1.05),  # a mean of 0 stays in view, not under the axis
            xlabel="constrainedness (all-correct mean)",  # a 0 bar is a number to read too
            ylabel="mean (95% CI)",
            title="by constrainedness",
        )
        right.set_xticks(
            levels, [f"{lv:g}\n({m:.2f})" for lv, m in zip(levels, means, strict=True)]
        )
        right.legend()
        count, samples = len(self.instances), self.samples
        figure.suptitle(
            f"{self.name}: {count} instance{'s' * (count != 1)} x "
            f"{samples} sample{'s' * (samples != 1)}"
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", dpi=110)
        return path

    def table(self) -> Table:
        """The report as a rich table for the command line."""
        from rich.table import Table

        title = f"{self.name} ({len(self.instances)} instances, N={self.samples})"
        if self.alternate is not None:
            title += f", {self.metric} metric"
        table = Table(title=title)
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
        if self.alternate is not None:
            table.add_section()
            for row in self.comparison_rows():
                table.add_row(*row)
        return table

    def comparison_rows(self) -> list[tuple[str, str, str]]:
        """(label, value, detail): both metrics side by side, then the disagreements."""
        if self.alternate is None:
            return []
        rows = []
        for report in (self, self.alternate):
            for label, ci in (
                ("all correct", report.all_correct),
                ("fraction passed", report.fraction_passed),
            ):
                rows.append((f"{report.metric}: {label}", f"{ci.mean:.3f}", _interval(ci)))
        answers = len(self.instances) * self.samples
        rows.append(("verdicts differ", str(sum(self.disagreements.values())), f"of {answers}"))
        for reason, count in self.disagreements.items():
            rows.append((f"  {reason}", str(count), ""))
        return rows


def score_answers(
    instances: Sequence[Instance],
    domain: Domain,
    answers: Mapping[str, Sequence[str]],
    name: str | None = None,
    metric: Metric = "strict",
) -> ScoreReport:
    """Grade `answers` (instance id -> its N samples, the same N for all) and report in
    `metric`, with the other metric beside it when the domain has a reference grader."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    reference = reference_grader(domain)
    if metric == "reference" and reference is None:
        raise ValueError(
            f"the reference metric exists for the calendar domain (BA-Calendar), "
            f"not for {domain.name!r}; use the strict metric"
        )
    known = {i.id for i in instances}
    unknown = [task_id for task_id in answers if task_id not in known]
    if unknown:
        raise ValueError(f"answers for unknown instances: {', '.join(unknown[:5])}")
    missing = [i.id for i in instances if not answers.get(i.id)]
    if missing:
        raise ValueError(f"no answers for instances: {', '.join(missing[:5])}")
    name = name or domain.name
    modes: dict[Metric, tuple[Grader, Callable[[Instance], float]]] = {
        "strict": (lambda i, a: grade_answer(domain, i, a), domain.constrainedness)
    }
    if reference is not None:
        from benchagents.domains.calendar.ba_calendar_reference import reference_constrainedness

        modes["reference"] = (reference, reference_constrainedness)  # its buckets, too
    graded = {
        mode: [
            GradedInstance(
                i.id, level(i), list(answers[i.id]), [grade(i, a) for a in answers[i.id]]
            )
            for i in instances
        ]
        for mode, (grade, level) in modes.items()
    }
    report = build_report(name, graded[metric], metric)
    if reference is None:
        return report
    other: Metric = "strict" if metric == "reference" else "reference"
    return replace(
        report,
        alternate=build_report(name, graded[other], other),
        disagreements=_disagreements(instances, graded["strict"], graded["reference"]),
    )


def _disagreements(
    instances: Sequence[Instance],
    strict: Sequence[GradedInstance],
    reference: Sequence[GradedInstance],
) -> dict[str, int]:
    """Reason -> how many answers the two metrics give different verdicts, most first."""
    from benchagents.domains.calendar.ba_calendar_reference import disagreement_reason

    reasons: Counter[str] = Counter()
    for instance, ours, theirs in zip(instances, strict, reference, strict=True):
        for answer, a, b in zip(ours.answers, ours.grades, theirs.grades, strict=True):
            reason = disagreement_reason(instance, answer, a, b)
            if reason is not None:
                reasons[reason] += 1
    return dict(reasons.most_common())


@dataclass(frozen=True)
class GradedInstance:
    """An instance's sampled answers and their grades, in the same order."""

    id: str
    constrainedness: float
    answers: Sequence[str]
    grades: Sequence[GradeResult]


def build_report(
    name: str, graded: Sequence[GradedInstance], metric: Metric = "strict"
) -> ScoreReport:
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
        metric=metric,
    )


def _average(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _mean(scores: Sequence[InstanceScore], value: Callable[[InstanceScore], float]) -> MeanCI:
    return mean_ci(value(s) for s in scores)


def _interval(ci: MeanCI) -> str:
    return f"[{ci.low:.3f}, {ci.high:.3f}]"
