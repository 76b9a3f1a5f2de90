"""The benchmark plan: what the planning agent decides and the person reviews.

A plan names a domain, the parameters a generator sweeps (their ranges bound
`Domain.sample_params`), the constraints instances may carry, and — after generation — the
verification checks and the evaluation plan. It round-trips through YAML so a person can edit
it between stages.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict


class Parameter(BaseModel):
    """One generation parameter; `low`/`high` bound numeric kinds, `choices` the "choice" kind."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # ranges are finite

    name: str
    description: str
    kind: Literal["int", "float", "choice", "bool"]
    low: float | None = None
    high: float | None = None
    choices: list[str] | None = None

    def sample(self, rng: random.Random) -> int | float | str | bool:
        """One value inside the declared range (uniform), so a person's edit of the range
        directly changes the sweep; a range the kind needs but lacks raises ValueError."""
        if self.kind == "bool":
            return rng.random() < 0.5
        if self.kind == "choice":
            if not self.choices:
                raise ValueError(f"parameter {self.name!r} is a choice without choices")
            return rng.choice(self.choices)
        if self.low is None or self.high is None or self.low > self.high:
            raise ValueError(
                f"parameter {self.name!r} needs low <= high, got low={self.low} high={self.high}"
            )
        if self.kind == "int":
            low, high = math.ceil(self.low), math.floor(self.high)
            if low > high:
                raise ValueError(
                    f"parameter {self.name!r} has no integer in [{self.low}, {self.high}]"
                )
            return rng.randint(low, high)
        return rng.uniform(self.low, self.high)


class ConstraintSpec(BaseModel):
    """A constraint instances may carry, e.g. "no_meetings_before"."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str


class CheckSpec(BaseModel):
    """A verification check; "code" checks run as Python, "llm" checks ask a model."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    kind: Literal["code", "llm"]


class EvaluationPlan(BaseModel):
    """How target models answer (`answer_format`) and which metrics the report shows."""

    model_config = ConfigDict(extra="forbid")

    answer_format: str
    metrics: list[str]


class Plan(BaseModel):
    """The whole plan of one benchmark; `feedback` keeps what the person wrote, in order."""

    model_config = ConfigDict(extra="forbid")

    domain: str
    description: str
    parameters: list[Parameter]
    constraints: list[ConstraintSpec]
    instance_schema: dict
    verification: list[CheckSpec] = []
    evaluation: EvaluationPlan | None = None
    feedback: list[str] = []

    def parameter(self, name: str) -> Parameter:
        """The parameter called `name`; KeyError naming the known ones otherwise."""
        for p in self.parameters:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.parameters)
        raise KeyError(f"plan has no parameter {name!r} (has: {known})")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str) -> Plan:
        """Parse and validate; a YAML or schema error raises ValueError saying what is wrong."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"plan is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ValueError("plan must be a YAML mapping")
        return cls.model_validate(data)

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a plan."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"))
