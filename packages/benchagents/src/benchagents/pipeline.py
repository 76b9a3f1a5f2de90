"""The staged pipeline: planning -> generation -> verification -> evaluation -> done.

Each stage's agent writes its artifacts as files a person can read and edit:

    RUN/plan.yaml                       the plan (parameters, constraints, checks, metrics)
    RUN/domain/                         a described domain's draft (plan, generator, checker)
    RUN/instances/raw.jsonl             generated instances; rewrites.jsonl: the LLM rewrites
    RUN/verification/verdicts.jsonl     per-instance verdicts; verified.jsonl: the kept ones
    RUN/dataset/vN/                     the verified dataset (written when evaluation starts)
    RUN/evaluation/<target>/            answers.jsonl, report.json, report.png
    RUN/state.json, RUN/log.jsonl       where the run is; what happened, one event a line

With review on, the pipeline pauses after each stage: approve, edit (the files are re-read
and validated; errors are shown and the question asked again), feedback (the stage's agent
revises; the text is kept in plan.feedback), or quit. The state is saved atomically after
every step, so `resume` continues after a quit, a `stop_after`, Ctrl-C or a crash: a stage
that did not finish runs again from its inputs, which are files, with the same seeds.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchagents.agents import (
    EvaluationSettings,
    Evaluator,
    Generator,
    LLMCheckMode,
    Planner,
    ProgressFactory,
    Revision,
    Rewrite,
    Verifier,
    metric_rows,
)
from benchagents.agents.generator_writer import (
    GENERATOR_FILE,
    WrittenGeneratorDomain,
    write_generator,
)
from benchagents.agents.planner import METRICS
from benchagents.dataset import load_dataset_dir, write_dataset
from benchagents.domains import Domain, get_domain
from benchagents.domains.described import DescribedDomain, write_draft
from benchagents.instance import Instance
from benchagents.llm import DEFAULT_BACKEND, LLM, Endpoints, make_backend
from benchagents.plan import Plan
from benchagents.scoring import Metric, ScoreReport, reference_grader
from reasonloop.atomic import remove_leftovers, write_atomic
from reasonloop.errors import describe, one_line
from reasonloop.jsonl import read_json, read_jsonl, recover_jsonl

Stage = Literal["planning", "generation", "verification", "evaluation", "done"]
STAGES: tuple[Stage, ...] = ("planning", "generation", "verification", "evaluation", "done")
DESCRIBED = "described"

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


class RunConfig(BaseModel):
    """Everything a run was created with; saved in state.json (never an API key)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    domain: str
    count: int = Field(60, ge=1)
    seed: int = 0
    backend: str = DEFAULT_BACKEND
    targets: list[str] = []  # empty: evaluate the backend's model
    samples: int = Field(2, ge=1)
    eval_limit: int = Field(20, ge=1)  # verified instances evaluated (the first ones)
    eval_max_tokens: int = Field(24, ge=1)
    eval_temperature: float = Field(0.7, ge=0)
    metric: Metric = "strict"  # the reports' metric; the other one is shown beside it
    llm_generator: bool = False  # built-in domains: the backend writes the generator code
    rewrite: bool = True  # let the LLM rephrase the domain's llm_fields
    llm_checks: LLMCheckMode = "advisory"
    llm_check_limit: int = Field(10, ge=0)  # instances the LLM checks look at (0: all)
    description: str | None = None
    draft: str | None = None  # described domains: a hand-written draft directory
    review: bool = False


class RunState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str
    stage: Stage = "planning"
    awaiting_review: bool = False  # the stage's work is saved, its review is not done
    config: RunConfig
    dataset: str | None = None  # the dataset version this run wrote
    history: list[dict[str, Any]] = []


class Stopped(Exception):
    """The run stopped before `done` (quit, stop_after, Ctrl-C); its state is saved."""

    def __init__(self, stage: Stage, reason: str) -> None:
        self.stage = stage
        self.reason = reason
        super().__init__(f"stopped at {stage} ({reason})")


class UI:
    """What the pipeline shows (rich consoles) and asks (a line from stdin)."""

    def __init__(self, out: Console, err: Console, ask: Callable[[str], str] | None = None) -> None:
        self.out = out
        self.err = err
        self._ask = ask or _ask_stdin

    def ask(self, prompt: str) -> str:
        try:
            return self._ask(prompt)
        except EOFError:
            return "q"

    @contextmanager
    def progress(self) -> Iterator[ProgressFactory]:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.err, transient=False) as bar:

            def start(description: str, total: int) -> Callable[[int], None]:
                task = bar.add_task(description, total=total)
                return lambda done: bar.advance(task, done)

            yield start


def _ask_stdin(prompt: str) -> str:
    print(prompt, end="", flush=True)
    return input()


class Pipeline:
    def __init__(
        self, run_dir: Path, state: RunState, ui: UI, endpoints: Endpoints | None = None
    ) -> None:
        self.run_dir = run_dir
        self.state = state
        self.ui = ui
        self.endpoints = endpoints or Endpoints()
        self._llms: dict[str, LLM] = {}
        self._domain: Domain | None = None
        # each stage's work; called with a person's feedback, the agent revises it
        self._agents: dict[Stage, Callable[..., None]] = {
            "planning": self._planning,
            "generation": self._generation,
            "verification": self._verification,
            "evaluation": self._evaluation,
        }

    # ---- opening a run ---------------------------------------------------------------

    @classmethod
    def create(
        cls, run_dir: Path, config: RunConfig, ui: UI, endpoints: Endpoints | None = None
    ) -> Pipeline:
        """A new run in `run_dir` (which must not hold one already)."""
        if (run_dir / STATE).exists():
            raise PipelineError(f"{run_dir} already holds a run; continue it with resume")
        if config.domain == DESCRIBED:
            if not config.description and not config.draft:
                raise PipelineError("a described domain needs --description (or --draft DIR)")
        else:
            get_domain(config.domain)  # ValueError naming the known domains
        if config.llm_generator and config.domain == DESCRIBED:
            raise PipelineError(
                "--llm-generator is for the built-in domains (a described domain's generator "
                "is written by the LLM already)"
            )
        if config.metric == "reference" and (
            config.domain == DESCRIBED or reference_grader(get_domain(config.domain)) is None
        ):
            raise PipelineError(
                f"--metric reference: the {config.domain} domain has no reference metric "
                "(BA-Calendar's exists for calendar)"
            )
        pipeline = cls(run_dir, RunState(domain=config.domain, config=config), ui, endpoints)
        for spec in [config.backend, *config.targets]:
            pipeline.llm(spec)  # a bad spec fails now, before the run exists (models load later)
        run_dir.mkdir(parents=True, exist_ok=True)
        pipeline._save_state()
        pipeline.log("created", config=config.model_dump(mode="json"))
        return pipeline

    @classmethod
    def imported(
        cls,
        run_dir: Path,
        domain: str,
        instances: list[Instance],
        source: str,
        ui: UI,
    ) -> Pipeline:
        """A run whose dataset comes from elsewhere (e.g. BA-Calendar): the domain's default
        plan, a dataset version, and the state at evaluation, so `resume` evaluates it."""
        pipeline = cls.create(run_dir, RunConfig(domain=domain), ui)
        plan = pipeline.domain.default_plan()
        plan.save(pipeline.path(PLAN))
        stats = {"imported": len(instances), "source": source}
        path = write_dataset(run_dir, plan, instances, domain, stats, domain=pipeline.domain)
        pipeline.state.dataset = str(path.relative_to(run_dir))
        pipeline.state.stage = "evaluation"
        pipeline._save_state()
        pipeline.log("imported", source=source, instances=len(instances), dataset=str(path))
        return pipeline

    @classmethod
    def open(cls, run_dir: Path, ui: UI, endpoints: Endpoints | None = None) -> Pipeline:
        path = run_dir / STATE
        if not path.is_file():
            raise PipelineError(f"{run_dir} holds no run ({STATE} not found)")
        try:
            state = RunState.model_validate(read_json(path))
        except ValidationError as error:
            raise PipelineError(f"{path}: {describe(error)}") from None
        return cls(run_dir, state, ui, endpoints)

    # ---- running -----------------------------------------------------------------------

    def run(self, stop_after: Stage | None = None) -> RunState:
        """Run (or continue) to `done`; raises Stopped after `stop_after` or a quit."""
        # what a crash left (one line each): a torn last log line, unfinished atomic writes
        recover_jsonl(self.path(LOG))
        remove_leftovers(self.run_dir)
        try:
            while self.state.stage != "done":
                stage = self.state.stage
                if not self.state.awaiting_review:
                    self.log("stage_started", stage=stage)
                    self._agents[stage]()
                    self.state.awaiting_review = True
                    self._save_state()
                if self.state.config.review and not self._review(stage):
                    self.log("quit", stage=stage)
                    raise Stopped(stage, "quit")
                self.state.stage = STAGES[STAGES.index(stage) + 1]
                self.state.awaiting_review = False
                self.state.history.append({"stage": stage, "finished": _now()})
                self._save_state()
                self.log("stage_finished", stage=stage)
                if stage == stop_after and self.state.stage != "done":
                    raise Stopped(self.state.stage, f"stop after {stage}")
        except KeyboardInterrupt:
            self._save_state()
            self.log("interrupted", stage=self.state.stage)
            raise Stopped(self.state.stage, "interrupted") from None
        return self.state

    def close(self) -> None:
        """Release the backends (model memory, connections)."""
        for llm in self._llms.values():
            llm.close()
        self._llms.clear()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the stages ------------------------------------------------------------------

    def _planning(self, feedback: str | None = None) -> None:
        if self.state.domain == DESCRIBED and feedback is None:
            self._draft_domain()
        planner = Planner(self.domain, self.llm())
        if feedback is None:
            plan, revision = planner.plan(self.state.config.description)
        else:
            plan, revision = planner.revise(self.plan(), feedback)
        self._note("planning", revision)
        plan.save(self.path(PLAN))
        self.ui.out.print(f"plan: {self.path(PLAN)}")

    def _draft_domain(self) -> None:
        config = self.state.config
        if config.draft:
            domain = DescribedDomain.from_dir(config.draft)
        else:
            self.ui.err.print(
                "the LLM writes the domain's plan and code (small local models rarely manage: "
                "give --draft DIR or a stronger --backend)"
            )
            with self.ui.err.status("drafting the domain"):
                domain = write_draft(self.llm(), config.description or "")
        domain.save(self.path(DOMAIN_DIR))
        self._domain = domain
        self.log("domain_drafted", name=domain.name, source=config.draft or config.backend)

    def _generation(self, feedback: str | None = None) -> None:
        config = self.state.config
        if feedback is not None:
            plan, revision = Planner(self.domain, self.llm()).revise(self.plan(), feedback)
            self._note("generation", revision)
            plan.save(self.path(PLAN))
        if config.llm_generator and not self.path(DOMAIN_DIR, GENERATOR_FILE).is_file():
            self._write_generator()
        generator = Generator(self.domain, self.llm() if config.rewrite else None)
        with self.ui.progress() as progress:
            result = generator.generate(self.plan(), config.count, config.seed, progress)
        _write_jsonl(self.path(RAW), [i.model_dump(mode="json") for i in result.instances])
        _write_jsonl(self.path(REWRITES), [r.to_json() for r in result.rewrites])
        self.log("generated", counts=dict(result.counts), errors=result.errors[:5])
        c = result.counts
        self.ui.out.print(
            f"generated {len(result.instances)} instances: {self.path(RAW)} ({c['rewritten']} "
            f"rephrased by the LLM with {c['rephrasings']} rephrasings; "
            f"{c['rephrasings_failed']} rephrasings failed)"
        )

    def _write_generator(self) -> None:
        self.ui.err.print(
            "the LLM writes the generator code (small local models rarely manage: drop "
            "--llm-generator for the hand-written one, or give a stronger --backend)"
        )
        with self.ui.err.status("writing the generator"):
            domain = write_generator(self.llm(), get_domain(self.state.domain), self.plan())
        domain.save(self.path(DOMAIN_DIR))
        self._domain = domain
        self.log("generator_written", domain=domain.name, source=self.state.config.backend)

    def _verification(self, feedback: str | None = None) -> None:
        config = self.state.config
        instances = self._instances(RAW)
        planner = Planner(self.domain, self.llm())
        plan, revision = planner.verification_plan(self.plan(), instances[0], feedback)
        self._note("verification", revision)
        plan.save(self.path(PLAN))
        rewrites = _read_models(self.path(REWRITES), Rewrite)
        verifier = Verifier(
            self.domain,
            self.llm(),
            llm_checks=config.llm_checks,
            llm_check_limit=config.llm_check_limit or None,
        )
        with self.ui.progress() as progress:
            result = verifier.verify(instances, plan, rewrites, progress)
        _write_jsonl(self.path(VERDICTS), [v.to_json() for v in result.verdicts])
        _write_jsonl(self.path(VERIFIED), [i.model_dump(mode="json") for i in result.kept])
        stats = result.stats()
        write_atomic(self.path(VERIFICATION_STATS), json.dumps(stats, indent=2) + "\n")
        self.log("verified", **stats)
        self.ui.out.print(_verification_line(stats))

    def _evaluation(self, feedback: str | None = None) -> None:
        planner = Planner(self.domain, self.llm())
        plan, revision = planner.evaluation_plan(self.plan(), feedback)
        self._note("evaluation", revision)
        plan.save(self.path(PLAN))
        if self.state.dataset is None:
            self._write_dataset(plan)
        if feedback is not None:  # the metrics shown changed; the answers and scores stand
            metrics = plan.evaluation.metrics if plan.evaluation else METRICS
            self.ui.out.print(f"the report shows: {', '.join(metrics)}")
            return
        config = self.state.config
        for spec in config.targets or [config.backend]:
            self.evaluate(spec)

    def _write_dataset(self, plan: Plan) -> None:
        stats = read_json(self.path(VERIFICATION_STATS))
        verified = self._instances(VERIFIED)
        checker = self.domain.checker_source if isinstance(self.domain, DescribedDomain) else None
        path = write_dataset(
            self.run_dir,
            plan,
            verified,
            self.domain.name,
            stats,
            domain=self.domain,
            checker_code=checker,
        )
        self.state.dataset = str(path.relative_to(self.run_dir))
        self._save_state()
        self.log("dataset_written", path=self.state.dataset, instances=len(verified))
        self.ui.out.print(f"dataset: {path} ({len(verified)} verified instances)")

    def evaluate(
        self, spec: str, *, samples: int | None = None, metric: Metric | None = None
    ) -> ScoreReport:
        """Evaluate one target model on this run's latest dataset; writes evaluation/<spec>/."""
        config = self.state.config
        dataset = load_dataset_dir(self.run_dir)
        instances = dataset.instances[: config.eval_limit]
        settings = EvaluationSettings(
            samples=samples or config.samples,
            max_tokens=config.eval_max_tokens,
            temperature=config.eval_temperature,
            seed=config.seed,
            metric=metric or config.metric,
        )
        with self.ui.progress() as progress:
            answers, report = Evaluator(self.domain, settings).evaluate(
                self.llm(spec), instances, progress
            )
        directory = self.path(EVALUATION_DIR) / _slug(spec)
        _write_jsonl(directory / ANSWERS, [{"id": k, "answers": v} for k, v in answers.items()])
        json_path, png_path = report.write(directory)
        self.log(
            "evaluated",
            target=spec,
            dataset=str(dataset.path),
            instances=len(instances),
            samples=settings.samples,
            all_correct=report.all_correct.mean,
            fraction_passed=report.fraction_passed.mean,
        )
        self.show_report(report)
        self.ui.out.print(f"report: {json_path}, {png_path}")
        return report

    def show_report(self, report: ScoreReport) -> None:
        """The metrics the evaluation plan names (all of them without a plan)."""
        plan = self.plan()
        metrics = plan.evaluation.metrics if plan.evaluation else METRICS
        table = Table(title=f"{report.name}: {len(report.instances)} instances x {report.samples}")
        for column in ("metric", "value", ""):
            table.add_column(column)
        for row in metric_rows(report, metrics):
            table.add_row(*row)
        self.ui.out.print(table)

    # ---- review ----------------------------------------------------------------------

    def _review(self, stage: Stage) -> bool:
        """Ask until approved (True) or quit (False)."""
        files = ", ".join(str(self.path(name)) for name in EDITABLE[stage])
        self.ui.out.print(f"[bold]review {stage}[/bold]: edit {files} as you like, then answer")
        while True:
            choice = (
                self.ui.ask("[a]pprove, [e]dit (re-read the files), [f]eedback, [q]uit? ")
                .strip()
                .lower()
            )
            if choice in ("a", "approve"):
                self.log("approved", stage=stage)
                return True
            if choice in ("q", "quit"):
                return False
            if choice in ("e", "edit"):
                try:
                    self._reread(stage)
                except (PipelineError, ValueError) as error:
                    self.ui.err.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
                    continue
                self.log("edited", stage=stage, files=list(EDITABLE[stage]))
                self.ui.out.print(f"re-read {files}: valid")
            elif choice in ("f", "feedback"):
                text = self.ui.ask("feedback: ").strip()
                if text:
                    self.log("feedback", stage=stage, text=text)
                    self._agents[stage](text)
                    self._save_state()
            else:
                self.ui.err.print("answer a, e, f or q")

    def _reread(self, stage: Stage) -> None:
        """Validate what a person edited; a file that does not validate raises, naming it."""
        if stage in ("planning", "evaluation"):
            plan = self.plan()
            try:
                self.domain.sample_params(plan, random.Random(0))
            except (KeyError, ValueError) as error:
                raise PipelineError(f"{self.path(PLAN)}: {error}") from None
        elif stage == "generation":
            self._instances(RAW)
        else:
            self._instances(VERIFIED)

    # ---- files, state, log ---------------------------------------------------------------

    def path(self, *names: str) -> Path:
        return self.run_dir.joinpath(*names)

    @property
    def domain(self) -> Domain:
        if self._domain is None:
            if self.state.domain == DESCRIBED:
                self._domain = DescribedDomain.from_dir(self.path(DOMAIN_DIR))
            elif self.path(DOMAIN_DIR, GENERATOR_FILE).is_file():
                base = get_domain(self.state.domain)
                self._domain = WrittenGeneratorDomain.from_dir(base, self.path(DOMAIN_DIR))
            else:
                self._domain = get_domain(self.state.domain)
        return self._domain

    def llm(self, spec: str | None = None) -> LLM:
        """The backend `spec` names (default: the run's), built once and shared."""
        spec = spec or self.state.config.backend
        if spec not in self._llms:
            self._llms[spec] = make_backend(spec, self.endpoints)
        return self._llms[spec]

    def plan(self) -> Plan:
        try:
            return Plan.load(self.path(PLAN))
        except FileNotFoundError:
            raise PipelineError(f"{self.path(PLAN)} is missing") from None
        except ValueError as error:
            raise PipelineError(f"{self.path(PLAN)}: {one_line(error)}") from None

    def _instances(self, name: str) -> list[Instance]:
        instances = _read_models(self.path(name), Instance)
        if not instances:
            raise PipelineError(f"{self.path(name)} holds no instances")
        ids = [i.id for i in instances]
        if len(set(ids)) != len(ids):
            raise PipelineError(f"{self.path(name)}: instance ids are not unique")
        return instances

    def _note(self, stage: str, revision: Revision) -> None:
        if revision.applied or revision.rejected:
            self.log(
                "plan_revised",
                stage=stage,
                applied=revision.applied,
                rejected=revision.rejected,
                llm_failed=revision.llm_failed,
            )
        for item in revision.applied:
            self.ui.out.print(f"plan: {item}", markup=False)
        for item in revision.rejected:
            self.ui.out.print(f"plan: rejected {item}", style="yellow", markup=False)

    def _save_state(self) -> None:
        write_atomic(self.path(STATE), self.state.model_dump_json(indent=2) + "\n")

    def log(self, event: str, **data: Any) -> None:
        record = {"time": _now(), "event": event, **data}
        with self.path(LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(record, default=str) + "\n")

    def summary(self) -> dict[str, Any]:
        """What `show` prints: stage, counts, scores."""
        stats_path = self.path(VERIFICATION_STATS)
        reports = {}
        for report in sorted(self.path(EVALUATION_DIR).glob("*/report.json")):
            data = json.loads(report.read_text(encoding="utf-8"))
            reports[data["name"]] = {
                "all_correct": data["all_correct"]["mean"],
                "fraction_passed": data["fraction_passed"]["mean"],
                "instances": len(data["instances"]),
                "samples": data["samples"],
            }
        return {
            "run": str(self.run_dir),
            "domain": self.state.domain,
            "stage": self.state.stage,
            "awaiting_review": self.state.awaiting_review,
            "dataset": self.state.dataset,
            "verification": json.loads(stats_path.read_text()) if stats_path.is_file() else None,
            "evaluation": reports,
        }


def _verification_line(stats: dict[str, Any]) -> str:
    rejected = stats["rejected"]
    reasons = ", ".join(f"{k}: {v}" for k, v in rejected.items()) or "none"
    llm = ", ".join(f"{k}: {v}" for k, v in stats["llm_checks"].items()) or "none"
    return (
        f"verified {stats['verified']} of {stats['generated']} "
        f"(repaired {stats['repaired']}, rewrites reverted {stats['rewrites_reverted']}); "
        f"rejected {sum(rejected.values())} ({reasons}); llm checks ({llm})"
    )


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", spec).strip("-")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _read_models(path: Path, model: type[M]) -> list[M]:
    """The rows of a stage's JSONL file, each validated; one line names a bad one's line."""
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
