"""The planning agent: the plan, then the verification and evaluation plans.

The domain's default plan is the expert starting point. The LLM acts on what a person asks for
(a description, written feedback): it proposes edits through a small schema, and each edit is
validated against the domain's envelope (a range may narrow or move inside the default range,
a choice list may shrink) before it is applied; invalid edits are rejected and counted, so a
weak model can only steer the plan, never break it. With nothing asked, the default plan stands.

After generation the planner writes the verification plan (the domain's code checks, named by
what `Domain.verify` reports, plus LLM checks of clarity and any the person asked for) and the
evaluation plan (the domain's answer format and the metrics the report shows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from benchagents.agents.verifier import REWRITE_CHECK
from benchagents.domains import Domain
from benchagents.instance import Instance
from benchagents.llm import LLM, StructuredOutputError
from benchagents.plan import CheckSpec, EvaluationPlan, Parameter, Plan

METRICS = (
    "all_correct",
    "fraction_passed",
    "per_constraint",
    "by_constrainedness",
    "best_of_n",
    "worst_of_n",
    "majority_vote",
)
CLARITY = CheckSpec(
    name="clarity",
    description="The task states everything needed to answer it, unambiguously.",
    kind="llm",
)
REWRITE = CheckSpec(
    name=REWRITE_CHECK,
    description="An LLM-rephrased passage keeps the original's numbers and names (else reverted).",
    kind="code",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


class RangeEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameter: str
    low: float
    high: float


class ChoiceEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameter: str
    choices: list[str] = Field(max_length=12)


class PlanEdits(BaseModel):
    """What the LLM may change in a plan."""

    model_config = ConfigDict(extra="forbid")
    ranges: list[RangeEdit] = Field(default=[], max_length=8)
    choices: list[ChoiceEdit] = Field(default=[], max_length=8)


class CheckProposal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=40)
    question: str = Field(max_length=200)


class CheckEdits(BaseModel):
    """LLM checks the person asked for, each a yes/no question about one instance."""

    model_config = ConfigDict(extra="forbid")
    checks: list[CheckProposal] = Field(default=[], max_length=3)


class MetricEdits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: list[str] = Field(max_length=len(METRICS))


@dataclass
class Revision:
    """A planning step's outcome: what changed, what was refused and why."""

    applied: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    llm_failed: bool = False


class Planner:
    """Writes and revises plans for one domain with one LLM."""

    def __init__(self, domain: Domain, llm: LLM, *, max_tokens: int = 120) -> None:
        self.domain = domain
        self.llm = llm
        self.max_tokens = max_tokens

    def plan(self, description: str | None = None) -> tuple[Plan, Revision]:
        """The domain's default plan, edited toward `description` when one is given."""
        plan = self.domain.default_plan()
        if not description:
            return plan, Revision()
        plan = plan.model_copy(update={"description": description})
        return self._edit(plan, f"The benchmark should be: {description}")

    def revise(self, plan: Plan, feedback: str) -> tuple[Plan, Revision]:
        """Apply a person's feedback; it is recorded in `plan.feedback` whatever the LLM does."""
        plan = plan.model_copy(update={"feedback": [*plan.feedback, feedback]})
        return self._edit(plan, f"A person reviewing the plan asks: {feedback}")

    def _edit(self, plan: Plan, request: str) -> tuple[Plan, Revision]:
        lines = [_parameter_line(p) for p in plan.parameters]
        messages = [
            {
                "role": "user",
                "content": f"You plan a {plan.domain} benchmark. Its generation parameters:\n"
                + "\n".join(lines)
                + f"\n\n{request}\n\nPropose parameter range or choice edits that do this; "
                "propose none if no change is needed.",
            }
        ]
        try:
            edits = self.llm.complete_json(messages, PlanEdits, max_tokens=self.max_tokens)
        except StructuredOutputError as error:
            return plan, Revision(rejected=[str(error)], llm_failed=True)
        return apply_edits(plan, self.domain.default_plan(), edits)

    def verification_plan(
        self, plan: Plan, sample: Instance, feedback: str | None = None
    ) -> tuple[Plan, Revision]:
        """The plan's code checks (or, when it names none, those `Domain.verify` reports),
        the rewrite check, the LLM checks so far (clarity by default) and any LLM checks the
        person asks for in `feedback`."""
        code = [c for c in plan.verification if c.kind == "code" and c.name != REWRITE.name]
        if not code:
            code = [
                CheckSpec(name=v.name, description=f"domain code check: {v.name}", kind="code")
                for v in self.domain.verify(sample)
            ]
        llm_checks = [c for c in plan.verification if c.kind == "llm"] or [CLARITY]
        revision = Revision()
        if feedback:
            plan = plan.model_copy(update={"feedback": [*plan.feedback, feedback]})
            proposed, revision = self._checks_from(feedback, {c.name for c in llm_checks})
            llm_checks += proposed
        checks = [REWRITE, *code, *llm_checks]
        return plan.model_copy(update={"verification": checks}), revision

    def _checks_from(self, feedback: str, taken: set[str]) -> tuple[list[CheckSpec], Revision]:
        messages = [
            {
                "role": "user",
                "content": "Instances of a benchmark will be checked by yes/no questions a model "
                f"answers about each instance. A reviewer asks: {feedback}\n\nWrite the checks "
                "(a snake_case name and a yes/no question; yes must mean the instance is good).",
            }
        ]
        try:
            edits = self.llm.complete_json(messages, CheckEdits, max_tokens=self.max_tokens)
        except StructuredOutputError as error:
            return [], Revision(rejected=[str(error)], llm_failed=True)
        checks, revision = [], Revision()
        for proposal in edits.checks:
            if not _NAME.match(proposal.name) or proposal.name in taken:
                revision.rejected.append(f"check name {proposal.name!r}: not new snake_case")
            elif not proposal.question.strip().endswith("?"):
                revision.rejected.append(f"check {proposal.name}: not a question")
            else:
                taken.add(proposal.name)
                checks.append(
                    CheckSpec(name=proposal.name, description=proposal.question, kind="llm")
                )
                revision.applied.append(f"llm check {proposal.name}")
        return checks, revision

    def evaluation_plan(self, plan: Plan, feedback: str | None = None) -> tuple[Plan, Revision]:
        """The domain's answer format and every metric, or the metrics the person asks for."""
        metrics: list[str] = list(plan.evaluation.metrics) if plan.evaluation else list(METRICS)
        revision = Revision()
        if feedback:
            plan = plan.model_copy(update={"feedback": [*plan.feedback, feedback]})
            messages = [
                {
                    "role": "user",
                    "content": f"A benchmark report can show these metrics: {', '.join(METRICS)}. "
                    f"It shows now: {', '.join(metrics)}. A reviewer asks: {feedback}\n\n"
                    "List the metrics the report should show.",
                }
            ]
            try:
                edits = self.llm.complete_json(messages, MetricEdits, max_tokens=self.max_tokens)
            except StructuredOutputError as error:
                revision = Revision(rejected=[str(error)], llm_failed=True)
            else:
                unknown = [m for m in edits.metrics if m not in METRICS]
                if unknown or not edits.metrics:
                    revision.rejected.append(f"metrics {edits.metrics}: unknown or empty")
                else:
                    metrics = list(dict.fromkeys(edits.metrics))
                    revision.applied.append(f"metrics {metrics}")
        evaluation = EvaluationPlan(
            answer_format=self.domain.answer_instructions(), metrics=metrics
        )
        return plan.model_copy(update={"evaluation": evaluation}), revision


def apply_edits(plan: Plan, envelope: Plan, edits: PlanEdits) -> tuple[Plan, Revision]:
    """Apply the edits that stay inside the default plan's envelope; report every decision."""
    revision = Revision()
    parameters = {p.name: p for p in plan.parameters}
    bounds = {p.name: p for p in envelope.parameters}
    for edit in edits.ranges:
        outer = bounds.get(edit.parameter)
        if outer is None or outer.kind not in ("int", "float"):
            revision.rejected.append(f"range of {edit.parameter!r}: no numeric parameter so named")
            continue
        low, high = edit.low, edit.high
        if outer.kind == "int":
            low, high = float(round(low)), float(round(high))
        if not (outer.low is None or low >= outer.low) or not (
            outer.high is None or high <= outer.high
        ):
            revision.rejected.append(
                f"range of {edit.parameter}: [{low:g}, {high:g}] leaves [{outer.low}, {outer.high}]"
            )
        elif low > high:
            revision.rejected.append(f"range of {edit.parameter}: low {low:g} > high {high:g}")
        else:
            parameters[edit.parameter] = parameters[edit.parameter].model_copy(
                update={"low": low, "high": high}
            )
            revision.applied.append(f"range of {edit.parameter} -> [{low:g}, {high:g}]")
    for edit in edits.choices:
        outer = bounds.get(edit.parameter)
        if outer is None or outer.kind != "choice":
            revision.rejected.append(f"choices of {edit.parameter!r}: no choice parameter so named")
            continue
        allowed = set(outer.choices or ())
        chosen = list(dict.fromkeys(edit.choices))
        if not chosen or not set(chosen) <= allowed:
            revision.rejected.append(
                f"choices of {edit.parameter}: {chosen} must be a non-empty subset of "
                f"{outer.choices}"
            )
        else:
            parameters[edit.parameter] = parameters[edit.parameter].model_copy(
                update={"choices": chosen}
            )
            revision.applied.append(f"choices of {edit.parameter} -> {chosen}")
    edited = plan.model_copy(update={"parameters": [parameters[p.name] for p in plan.parameters]})
    return edited, revision


def _parameter_line(p: Parameter) -> str:
    if p.kind == "choice":
        return f"- {p.name} (choice of {', '.join(p.choices or [])}): {p.description}"
    if p.kind == "bool":
        return f"- {p.name} (true/false): {p.description}"
    return f"- {p.name} ({p.kind} from {p.low} to {p.high}): {p.description}"
