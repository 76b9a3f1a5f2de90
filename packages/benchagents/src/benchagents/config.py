"""A benchagents run's configuration: `RunConfig`, what a run is created with.

It is saved in the run's `state.json` (never an API key), so `resume` goes on with the same
settings; `load_config` reads one from a TOML, YAML or JSON file with one-line errors, as the
other methods' configs are read.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from benchagents.agents import LLMCheckMode
from benchagents.llm import DEFAULT_BACKEND
from benchagents.scoring import Metric
from reasonloop.configfile import load_config_file

DESCRIBED = "described"  # the domain name of a domain the LLM drafts from a description


class RunConfig(BaseModel):
    """Everything a run was created with; saved in state.json (never an API key)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    domain: str
    count: int = Field(default=60, ge=1)
    seed: int = 0
    backend: str = DEFAULT_BACKEND
    targets: list[str] = []  # empty: evaluate the backend's model
    samples: int = Field(default=2, ge=1)
    eval_limit: int = Field(default=20, ge=1)  # verified instances evaluated (the first ones)
    eval_max_tokens: int = Field(default=24, ge=1)
    eval_temperature: float = Field(default=0.7, ge=0)
    metric: Metric = "strict"  # the reports' metric; the other one is shown beside it
    llm_generator: bool = False  # built-in domains: the backend writes the generator code
    rewrite: bool = True  # let the LLM rephrase the domain's llm_fields
    llm_checks: LLMCheckMode = "advisory"
    llm_check_limit: int = Field(default=10, ge=0)  # instances the LLM checks look at (0: all)
    description: str | None = None
    draft: str | None = None  # described domains: a hand-written draft directory
    review: bool = False


def load_config(path: str | Path) -> RunConfig:
    """The run config in `path` (.toml, .yaml or .json); a one-line ValueError naming the file
    and the offending key otherwise."""
    return load_config_file(path, RunConfig)
