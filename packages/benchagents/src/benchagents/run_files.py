"""The files of a benchagents run directory, which a person can read and edit:

    RUN/plan.yaml                       the plan (parameters, constraints, checks, metrics)
    RUN/domain/                         a described domain's draft (plan, generator, checker)
    RUN/instances/raw.jsonl             generated instances; rewrites.jsonl: the LLM rewrites
    RUN/verification/verdicts.jsonl     per-instance verdicts; verified.jsonl: the kept ones
    RUN/dataset/vN/                     the verified dataset (written when evaluation starts)
    RUN/evaluation/<target>/            answers.jsonl, report.json, report.png
    RUN/state.json                      where the run is (`RunState`)
    RUN/log.jsonl                       what happened, one event a line

Writes are atomic; reads validate every row and name the file (and line) of a bad one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from benchagents.config import RunConfig
from benchagents.instance import Instance
from benchagents.plan import Plan
from reasonloop.atomic import remove_leftovers, write_atomic
from reasonloop.errors import describe, one_line
from reasonloop.jsonl import read_json, read_jsonl, recover_jsonl

Stage = Literal["planning", "generation", "verification", "evaluation", "done"]
STAGES: tuple[Stage, ...] = ("planning", "generation", "verification", "evaluation", "done")

STATE = "state.json"
LOG = "log.jsonl"
PLAN = "plan.yaml"
DOMAIN_DIR = "domain"
RAW = "instances/raw.jsonl"
REWRITES = "instances/rewrites.jsonl"
VERDICTS = "verification/verdicts.jsonl"
VERIFIED = "verification/verified.jsonl"
VERIFICATION_STATS = "verification/stats.json"
EVALUATION_DIR = "evaluation"
ANSWERS = "answers.jsonl"

# What a person may edit after each stage (re-read on [e]dit).
EDITABLE: dict[str, tuple[str, ...]] = {
    "planning": (PLAN,),
    "generation": (RAW,),
    "verification": (VERIFIED,),
    "evaluation": (PLAN,),
}

M = TypeVar("M")


class PipelineError(ValueError):
    """A run that cannot go on as asked (bad run directory, bad files); one line says why."""


class RunState(BaseModel):
    """Where a run is (state.json): its stage, whether that stage awaits review, its config."""

    model_config = ConfigDict(extra="forbid")

    domain: str
    stage: Stage = "planning"
    awaiting_review: bool = False  # the stage's work is saved, its review is not done
    config: RunConfig
    dataset: str | None = None  # the dataset version this run wrote
    history: list[dict[str, Any]] = []


class RunFiles:
    """Reads and writes the files of the run in `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def path(self, *names: str) -> Path:
        return self.run_dir.joinpath(*names)

    def read_state(self) -> RunState:
        path = self.path(STATE)
        if not path.is_file():
            raise PipelineError(f"{self.run_dir} holds no run ({STATE} not found)")
        try:
            return RunState.model_validate(read_json(path))
        except ValidationError as error:
            raise PipelineError(f"{path}: {describe(error)}") from None

    def save_state(self, state: RunState) -> None:
        write_atomic(self.path(STATE), state.model_dump_json(indent=2) + "\n")

    def recover(self) -> None:
        """Undo what a crash left (one line each): a torn last log line, unfinished writes."""
        recover_jsonl(self.path(LOG))
        remove_leftovers(self.run_dir)

    def log(self, event: str, **data: Any) -> None:
        record = {"time": now(), "event": event, **data}
        with self.path(LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(record, default=str) + "\n")

    def plan(self) -> Plan:
        try:
            return Plan.load(self.path(PLAN))
        except FileNotFoundError:
            raise PipelineError(f"{self.path(PLAN)} is missing") from None
        except ValueError as error:
            raise PipelineError(f"{self.path(PLAN)}: {one_line(error)}") from None

    def instances(self, name: str) -> list[Instance]:
        """The instances of a stage's JSONL file: at least one, ids unique."""
        instances = self.read_models(name, Instance)
        if not instances:
            raise PipelineError(f"{self.path(name)} holds no instances")
        ids = [i.id for i in instances]
        if len(set(ids)) != len(ids):
            raise PipelineError(f"{self.path(name)}: instance ids are not unique")
        return instances

    def read_models(self, name: str, model: type[M]) -> list[M]:
        """The rows of a stage's JSONL file, each validated; one line names a bad one's line."""
        path = self.path(name)
        if not path.is_file():
            raise PipelineError(f"{path} is missing")
        adapter = TypeAdapter(model)  # a pydantic model or a dataclass
        items = []
        for number, row in read_jsonl(path):
            try:
                items.append(adapter.validate_python(row))
            except ValidationError as error:
                raise PipelineError(f"{path}:{number}: {describe(error)}") from None
        return items

    def write_jsonl(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        write_atomic(
            self.path(name), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )


def evaluation_dir(spec: str) -> str:
    """The directory, under the run, of one target's evaluation (`evaluation/<slug>`)."""
    return f"{EVALUATION_DIR}/{re.sub(r'[^A-Za-z0-9._-]+', '-', spec).strip('-')}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
