"""What a benchmark domain implements: generation, verification, repair and checking.

A domain is the code side of BenchAgents: the agents plan and review, the domain produces
instances from sampled parameters, verifies them (schema, consistency, solvability) and checks
a model's answer constraint by constraint.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from benchagents.instance import Instance
from benchagents.plan import Plan
from reasonloop.benchmarks import Check


@dataclass(frozen=True)
class Verdict:
    """The outcome of one verification check of an instance (not of a model's answer)."""

    name: str
    passed: bool
    detail: str = ""


class Domain(ABC):
    """Subclass this; `llm_fields` is optional (text an LLM may rephrase, default none)."""

    name: str
    description: str

    @abstractmethod
    def default_plan(self) -> Plan:
        """The plan the domain proposes before any agent or person edits it."""

    @abstractmethod
    def sample_params(self, plan: Plan, rng: random.Random) -> dict[str, Any]:
        """One point of the parameter sweep, inside the plan's ranges."""

    @abstractmethod
    def generate(self, params: dict[str, Any], rng: random.Random, instance_id: str) -> Instance:
        """One instance from `params`; deterministic given the rng state."""

    @abstractmethod
    def verify(self, instance: Instance) -> list[Verdict]:
        """Code checks of an instance: schema, consistency, solvability."""

    @abstractmethod
    def repair(self, instance: Instance, verdicts: list[Verdict]) -> Instance | None:
        """A fixed instance, or None to drop it."""

    @abstractmethod
    def check(self, instance: Instance, answer: str) -> list[Check]:
        """Per-constraint checks of a model's answer; a malformed answer fails them all."""

    @abstractmethod
    def constrainedness(self, instance: Instance) -> int:
        """The bucket the report groups instances by (e.g. number of active constraints)."""

    @abstractmethod
    def answer_instructions(self) -> str:
        """How target models must format their answer."""

    def llm_fields(self, instance: Instance) -> dict[str, str]:
        """Text fields of `instance` an LLM may rewrite without changing its answer."""
        return {}

    def apply_llm_fields(self, instance: Instance, fields: dict[str, str]) -> Instance:
        """`instance` with rewritten fields: each original text (a verbatim part of the prompt)
        is replaced once by its new text. Run `verify` afterwards: a rewrite may drop a fact."""
        original = self.llm_fields(instance)
        unknown = sorted(set(fields) - set(original))
        if unknown:
            raise ValueError(
                f"{self.name}: no rewritable field {', '.join(unknown)} "
                f"(has: {', '.join(original) or 'none'})"
            )
        prompt = instance.prompt
        for name, text in fields.items():
            prompt = prompt.replace(original[name], text, 1)
        return instance.model_copy(update={"prompt": prompt})


def sample_plan_params(plan: Plan, rng: random.Random) -> dict[str, Any]:
    """One value per plan parameter, each uniform in its declared range."""
    return {p.name: p.sample(rng) for p in plan.parameters}
