"""A benchagents run's configuration: `RunConfig`, one sectioned `MethodConfig` as softcot's and
codeit's, what a run is created with.

    [domain]        name, description, draft        what the benchmark is about
    [backend]       spec                            the agents' LLM
    [generation]    count, rewrite, llm_generator   the generation stage
    [verification]  llm_checks, llm_check_limit     the verification stage
    [evaluation]    targets, samples, limit, max_new_tokens, temperature, metric
    [run]           seed, review                    the whole run

It is saved in the run's `state.json` (never an API key), so `resume` goes on with the same
settings; `load_config` reads one from a TOML, YAML or JSON file with one-line errors, as the
other methods' configs are read. Runs created before the sections saved a flat config
(`count`, `eval_limit`, ...): `sectioned` reads that shape, here only, into the sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from benchagents.agents import LLMCheckMode
from benchagents.llm import DEFAULT_BACKEND
from benchagents.scoring import Metric
from reasonloop.configfile import ConfigSection, MethodConfig, load_config_file

DESCRIBED = "described"  # the domain name of a domain the LLM drafts from a description


class DomainSection(ConfigSection):
    name: str  # calendar, text or described
    description: str | None = None  # what the benchmark should be (needed by described)
    draft: str | None = None  # described domains: a hand-written draft directory


class BackendSection(ConfigSection):
    spec: str = DEFAULT_BACKEND  # model spec, grpc://HOST:PORT or openai:MODEL


class GenerationSection(ConfigSection):
    count: int = Field(default=60, ge=1)  # instances to generate
    rewrite: bool = True  # let the LLM rephrase the domain's llm_fields
    llm_generator: bool = False  # built-in domains: the backend writes the generator code


class VerificationSection(ConfigSection):
    llm_checks: LLMCheckMode = "advisory"
    llm_check_limit: int = Field(default=10, ge=0)  # instances the LLM checks look at (0: all)


class EvaluationSection(ConfigSection):
    targets: list[str] = Field(default_factory=list)  # empty: evaluate the backend's model
    samples: int = Field(default=2, ge=1)  # answers per instance and target
    limit: int = Field(default=20, ge=1)  # verified instances evaluated (the first ones)
    max_new_tokens: int = Field(default=24, ge=1)
    temperature: float = Field(default=0.7, ge=0)
    metric: Metric = "strict"  # the reports' metric; the other one is shown beside it


class RunSection(ConfigSection):
    seed: int = 0  # generation and evaluation sampling
    review: bool = False  # pause after each stage for a person


class RunConfig(MethodConfig):
    """Everything a run was created with; saved in state.json (never an API key)."""

    domain: DomainSection
    backend: BackendSection = BackendSection()
    generation: GenerationSection = GenerationSection()
    verification: VerificationSection = VerificationSection()
    evaluation: EvaluationSection = EvaluationSection()
    run: RunSection = RunSection()

    @classmethod
    def for_domain(cls, name: str) -> RunConfig:
        """The defaults for the domain `name`."""
        return cls(domain=DomainSection(name=name))

    @model_validator(mode="before")
    @classmethod
    def _flat_shape(cls, data: Any) -> Any:
        return sectioned(data)


# Where each field of the flat config (runs created before the sections) went.
FLAT_FIELDS = {
    "domain": "domain.name",
    "description": "domain.description",
    "draft": "domain.draft",
    "backend": "backend.spec",
    "count": "generation.count",
    "rewrite": "generation.rewrite",
    "llm_generator": "generation.llm_generator",
    "llm_checks": "verification.llm_checks",
    "llm_check_limit": "verification.llm_check_limit",
    "targets": "evaluation.targets",
    "samples": "evaluation.samples",
    "eval_limit": "evaluation.limit",
    "eval_max_tokens": "evaluation.max_new_tokens",
    "eval_temperature": "evaluation.temperature",
    "metric": "evaluation.metric",
    "seed": "run.seed",
    "review": "run.review",
}


def sectioned(data: Any) -> Any:
    """A flat config (its `domain` is a name, not a section, and no key is a section of its
    own) in sections; anything else as it is. A key the flat config never had stays where it
    is, for validation to name."""
    if not isinstance(data, dict) or not isinstance(data.get("domain"), str):
        return data
    if data.keys() & (RunConfig.model_fields.keys() - FLAT_FIELDS.keys()):
        return data  # sections beside a flat `domain`: no shape; validation says what is wrong
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key not in FLAT_FIELDS:
            sections[key] = value
            continue
        section, field = FLAT_FIELDS[key].split(".")
        sections.setdefault(section, {})[field] = value
    return sections


def load_config(path: str | Path) -> RunConfig:
    """The run config in `path` (.toml, .yaml or .json); a one-line ValueError naming the file
    and the offending key otherwise."""
    return load_config_file(path, RunConfig)
