"""The evaluation agent: runs a target model on the verified instances and scores it.

The target sees each instance exactly as the served benchmark shows it (the prompt as one user
message), so a score here and one from `reasonloop eval` against `serve-benchmark` agree. N
samples per instance (greedy when N is 1) give best-of-N, worst-of-N and majority vote; the
domain's per-constraint checks grade each answer (`benchagents.scoring`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchagents.agents.progress import ProgressFactory, no_progress
from benchagents.domains import Domain
from benchagents.instance import Instance
from benchagents.llm import LLM
from benchagents.scoring import Metric, ScoreReport, score_answers

_MEANS = ("all_correct", "fraction_passed", "best_of_n", "worst_of_n", "majority_vote")


@dataclass(frozen=True)
class EvaluationSettings:
    samples: int = 2
    max_tokens: int = 24
    temperature: float = 0.7  # when samples > 1
    seed: int = 0
    metric: Metric = "strict"  # the report's metric; the other one is shown beside it

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")


def messages_of(instance: Instance) -> list[dict[str, str]]:
    """What a target model is sent: the instance's prompt, as the Benchmark service sends it."""
    return [{"role": "user", "content": instance.prompt}]


class Evaluator:
    def __init__(self, domain: Domain, settings: EvaluationSettings | None = None) -> None:
        self.domain = domain
        self.settings = settings or EvaluationSettings()

    def answers(
        self, target: LLM, instances: Sequence[Instance], progress: ProgressFactory = no_progress
    ) -> dict[str, list[str]]:
        """Instance id -> its N answers."""
        s = self.settings
        temperature = s.temperature if s.samples > 1 else 0.0
        texts = target.complete_many(
            [messages_of(i) for i in instances],
            max_tokens=s.max_tokens,
            temperature=temperature,
            n=s.samples,
            seed=s.seed,
            advance=progress(f"evaluating {target.name}", len(instances)),
        )
        return {i.id: t for i, t in zip(instances, texts, strict=True)}

    def evaluate(
        self,
        target: LLM,
        instances: Sequence[Instance],
        progress: ProgressFactory = no_progress,
    ) -> tuple[dict[str, list[str]], ScoreReport]:
        answers = self.answers(target, instances, progress)
        return answers, score_answers(
            instances, self.domain, answers, name=target.name, metric=self.settings.metric
        )


def metric_rows(report: ScoreReport, metrics: Sequence[str]) -> list[tuple[str, str, str]]:
    """(metric, value, detail) rows of the metrics the evaluation plan asks for, in its order,
    then the two scoring metrics side by side when the report has both."""
    rows = []
    for metric in metrics:
        if metric in _MEANS:
            ci = getattr(report, metric)
            rows.append((metric, f"{ci.mean:.3f}", f"95% CI [{ci.low:.3f}, {ci.high:.3f}]"))
        elif metric == "per_constraint":
            for name, rate in report.per_constraint.items():
                rows.append(
                    (f"constraint {name}", f"{rate.rate:.3f}", f"{rate.passed}/{rate.total}")
                )
        elif metric == "by_constrainedness":
            for level, bucket in report.by_constrainedness.items():
                rows.append(
                    (
                        f"constrainedness {level}: all correct",
                        f"{bucket.all_correct.mean:.3f}",
                        f"{bucket.instances} instances",
                    )
                )
        else:
            raise ValueError(f"unknown metric {metric!r}")
    return rows + report.comparison_rows()
