"""The staged pipeline: planning -> generation -> verification -> evaluation -> done.

Each stage's agent writes its artifacts as files a person can read and edit (`run_files`).
With review on, the pipeline pauses after each stage: approve, edit (the files are re-read
and validated; errors are shown and the question asked again), feedback (the stage's agent
revises; the text is kept in plan.feedback), or quit. The state is saved atomically after
every step, so `resume` continues after a quit, a `stop_after`, Ctrl-C or a crash: a stage
that did not finish runs again from its inputs, which are files, with the same seeds.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape

from benchagents.agents import (
    EvaluationSettings,
    Evaluator,
    Generator,
    Planner,
    Revision,
    Rewrite,
    Verifier,
)
from benchagents.agents.generator_writer import (
    GENERATOR_FILE,
    WrittenGeneratorDomain,
    write_generator,
)
from benchagents.agents.planner import METRICS
from benchagents.config import DESCRIBED, RunConfig
from benchagents.dataset import load_dataset_dir, write_dataset
from benchagents.domains import Domain, get_domain
from benchagents.domains.described import DescribedDomain, write_draft
from benchagents.instance import Instance
from benchagents.llm import LLM, Endpoints, make_backend
from benchagents.plan import Plan
from benchagents.run_files import (
    ANSWERS,
    DOMAIN_DIR,
    EDITABLE,
    EVALUATION_DIR,
    PLAN,
    RAW,
    REWRITES,
    STAGES,
    STATE,
    VERDICTS,
    VERIFICATION_STATS,
    VERIFIED,
    PipelineError,
    RunFiles,
    RunState,
    Stage,
    evaluation_dir,
    now,
)
from benchagents.scoring import Metric, ScoreReport, reference_grader
from benchagents.ui import UI, verification_line
from reasonloop.atomic import write_atomic
from reasonloop.jsonl import read_json


class Stopped(Exception):
    """The run stopped before `done` (quit, stop_after, Ctrl-C); its state is saved."""

    def __init__(self, stage: Stage, reason: str) -> None:
        self.stage = stage
        self.reason = reason
        super().__init__(f"stopped at {stage} ({reason})")


class Pipeline:
    """One run: its state, its files (`RunFiles`), the stages' agents and the review between
    stages; the backends it opens are released by `close` (or leaving a `with` block)."""

    def __init__(
        self, run_dir: Path, state: RunState, ui: UI, endpoints: Endpoints | None = None
    ) -> None:
        self.run_dir = run_dir
        self.state = state
        self.ui = ui
        self.files = RunFiles(run_dir)
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
            raise PipelineError(f"{run_dir} already holds a run; continue it with create --resume")
        if config.domain.name == DESCRIBED:
            if not config.domain.description and not config.domain.draft:
                raise PipelineError("a described domain needs --description (or --draft DIR)")
        else:
            get_domain(config.domain.name)  # ValueError naming the known domains
        if config.generation.llm_generator and config.domain.name == DESCRIBED:
            raise PipelineError(
                "--llm-generator is for the built-in domains (a described domain's generator "
                "is written by the LLM already)"
            )
        if config.evaluation.metric == "reference" and (
            config.domain.name == DESCRIBED
            or reference_grader(get_domain(config.domain.name)) is None
        ):
            raise PipelineError(
                f"--metric reference: the {config.domain.name} domain has no reference metric "
                "(BA-Calendar's exists for calendar)"
            )
        pipeline = cls(run_dir, RunState(domain=config.domain.name, config=config), ui, endpoints)
        for spec in [config.backend.spec, *config.evaluation.targets]:
            pipeline.llm(spec)  # a bad spec fails now, before the run exists (models load later)
        run_dir.mkdir(parents=True, exist_ok=True)
        pipeline.files.save_state(pipeline.state)
        pipeline.files.log("created", config=config.model_dump(mode="json"))
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
        pipeline = cls.create(run_dir, RunConfig.for_domain(domain), ui)
        plan = pipeline.domain.default_plan()
        plan.save(pipeline.files.path(PLAN))
        stats = {"imported": len(instances), "source": source}
        path = write_dataset(run_dir, plan, instances, domain, stats, domain=pipeline.domain)
        pipeline.state.dataset = str(path.relative_to(run_dir))
        pipeline.state.stage = "evaluation"
        pipeline.files.save_state(pipeline.state)
        pipeline.files.log("imported", source=source, instances=len(instances), dataset=str(path))
        return pipeline

    @classmethod
    def open(cls, run_dir: Path, ui: UI, endpoints: Endpoints | None = None) -> Pipeline:
        """The run in `run_dir`, as its state.json left it."""
        return cls(run_dir, RunFiles(run_dir).read_state(), ui, endpoints)

    # ---- running -----------------------------------------------------------------------

    def run(self, stop_after: Stage | None = None) -> RunState:
        """Run (or continue) to `done`; raises Stopped after `stop_after` or a quit."""
        self.files.recover()
        try:
            while self.state.stage != "done":
                stage = self.state.stage
                if not self.state.awaiting_review:
                    self.files.log("stage_started", stage=stage)
                    self._agents[stage]()
                    self.state.awaiting_review = True
                    self.files.save_state(self.state)
                if self.state.config.run.review and not self._review(stage):
                    self.files.log("quit", stage=stage)
                    raise Stopped(stage, "quit")
                self.state.stage = STAGES[STAGES.index(stage) + 1]
                self.state.awaiting_review = False
                self.state.history.append({"stage": stage, "finished": now()})
                self.files.save_state(self.state)
                self.files.log("stage_finished", stage=stage)
                if stage == stop_after and self.state.stage != "done":
                    raise Stopped(self.state.stage, f"stop after {stage}")
        except KeyboardInterrupt:
            self.files.save_state(self.state)
            self.files.log("interrupted", stage=self.state.stage)
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
            plan, revision = planner.plan(self.state.config.domain.description)
        else:
            plan, revision = planner.revise(self.files.plan(), feedback)
        self._note("planning", revision)
        plan.save(self.files.path(PLAN))
        self.ui.out.print(f"plan: {self.files.path(PLAN)}")

    def _draft_domain(self) -> None:
        config = self.state.config
        if config.domain.draft:
            domain = DescribedDomain.from_dir(config.domain.draft)
        else:
            self.ui.err.print(
                "the LLM writes the domain's plan and code (small local models rarely manage: "
                "give --draft DIR or a stronger --backend)"
            )
            with self.ui.err.status("drafting the domain"):
                domain = write_draft(self.llm(), config.domain.description or "")
        domain.save(self.files.path(DOMAIN_DIR))
        self._domain = domain
        self.files.log(
            "domain_drafted", name=domain.name, source=config.domain.draft or config.backend.spec
        )

    def _generation(self, feedback: str | None = None) -> None:
        config = self.state.config
        if feedback is not None:
            plan, revision = Planner(self.domain, self.llm()).revise(self.files.plan(), feedback)
            self._note("generation", revision)
            plan.save(self.files.path(PLAN))
        if (
            config.generation.llm_generator
            and not self.files.path(DOMAIN_DIR, GENERATOR_FILE).is_file()
        ):
            self._write_generator()
        generator = Generator(self.domain, self.llm() if config.generation.rewrite else None)
        with self.ui.progress() as progress:
            result = generator.generate(
                self.files.plan(), config.generation.count, config.run.seed, progress
            )
        self.files.write_jsonl(RAW, [i.model_dump(mode="json") for i in result.instances])
        self.files.write_jsonl(REWRITES, [r.to_json() for r in result.rewrites])
        self.files.log("generated", counts=dict(result.counts), errors=result.errors[:5])
        c, raw = result.counts, self.files.path(RAW)
        self.ui.out.print(
            f"generated {len(result.instances)} instances: {raw} ({c['rewritten']} "
            f"rephrased by the LLM with {c['rephrasings']} rephrasings; "
            f"{c['rephrasings_failed']} rephrasings failed)"
        )

    def _write_generator(self) -> None:
        self.ui.err.print(
            "the LLM writes the generator code (small local models rarely manage: drop "
            "--llm-generator for the hand-written one, or give a stronger --backend)"
        )
        with self.ui.err.status("writing the generator"):
            domain = write_generator(self.llm(), get_domain(self.state.domain), self.files.plan())
        domain.save(self.files.path(DOMAIN_DIR))
        self._domain = domain
        self.files.log(
            "generator_written", domain=domain.name, source=self.state.config.backend.spec
        )

    def _verification(self, feedback: str | None = None) -> None:
        config = self.state.config
        instances = self.files.instances(RAW)
        planner = Planner(self.domain, self.llm())
        plan, revision = planner.verification_plan(self.files.plan(), instances[0], feedback)
        self._note("verification", revision)
        plan.save(self.files.path(PLAN))
        rewrites = self.files.read_models(REWRITES, Rewrite)
        verifier = Verifier(
            self.domain,
            self.llm(),
            llm_checks=config.verification.llm_checks,
            llm_check_limit=config.verification.llm_check_limit or None,
        )
        with self.ui.progress() as progress:
            result = verifier.verify(instances, plan, rewrites, progress)
        self.files.write_jsonl(VERDICTS, [v.to_json() for v in result.verdicts])
        self.files.write_jsonl(VERIFIED, [i.model_dump(mode="json") for i in result.kept])
        stats = result.stats()
        write_atomic(self.files.path(VERIFICATION_STATS), json.dumps(stats, indent=2) + "\n")
        self.files.log("verified", **stats)
        self.ui.out.print(verification_line(stats))

    def _evaluation(self, feedback: str | None = None) -> None:
        planner = Planner(self.domain, self.llm())
        plan, revision = planner.evaluation_plan(self.files.plan(), feedback)
        self._note("evaluation", revision)
        plan.save(self.files.path(PLAN))
        if self.state.dataset is None:
            self._write_dataset(plan)
        if feedback is not None:  # the metrics shown changed; the answers and scores stand
            self.ui.out.print(f"the report shows: {', '.join(_metrics(plan))}")
            return
        config = self.state.config
        for spec in config.evaluation.targets or [config.backend.spec]:
            self.evaluate(spec)

    def _write_dataset(self, plan: Plan) -> None:
        stats = read_json(self.files.path(VERIFICATION_STATS))
        verified = self.files.instances(VERIFIED)
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
        self.files.save_state(self.state)
        self.files.log("dataset_written", path=self.state.dataset, instances=len(verified))
        self.ui.out.print(f"dataset: {path} ({len(verified)} verified instances)")

    def evaluate(
        self, spec: str, *, samples: int | None = None, metric: Metric | None = None
    ) -> ScoreReport:
        """Evaluate one target model on this run's latest dataset; writes evaluation/<spec>/."""
        config = self.state.config
        dataset = load_dataset_dir(self.run_dir)
        instances = dataset.instances[: config.evaluation.limit]
        settings = EvaluationSettings(
            samples=samples or config.evaluation.samples,
            max_tokens=config.evaluation.max_new_tokens,
            temperature=config.evaluation.temperature,
            seed=config.run.seed,
            metric=metric or config.evaluation.metric,
        )
        with self.ui.progress() as progress:
            answers, report = Evaluator(self.domain, settings).evaluate(
                self.llm(spec), instances, progress
            )
        directory = evaluation_dir(spec)
        rows = [{"id": k, "answers": v} for k, v in answers.items()]
        self.files.write_jsonl(f"{directory}/{ANSWERS}", rows)
        json_path, png_path = report.write(self.files.path(directory))
        self.files.log(
            "evaluated",
            target=spec,
            dataset=str(dataset.path),
            instances=len(instances),
            samples=settings.samples,
            all_correct=report.all_correct.mean,
            fraction_passed=report.fraction_passed.mean,
        )
        self.ui.show_report(report, _metrics(self.files.plan()))
        self.ui.out.print(f"report: {json_path}, {png_path}")
        return report

    # ---- review ----------------------------------------------------------------------

    def _review(self, stage: Stage) -> bool:
        """Ask until approved (True) or quit (False)."""
        files = ", ".join(str(self.files.path(name)) for name in EDITABLE[stage])
        self.ui.out.print(f"[bold]review {stage}[/bold]: edit {files} as you like, then answer")
        while True:
            choice = (
                self.ui.ask("[a]pprove, [e]dit (re-read the files), [f]eedback, [q]uit? ")
                .strip()
                .lower()
            )
            if choice in ("a", "approve"):
                self.files.log("approved", stage=stage)
                return True
            if choice in ("q", "quit"):
                return False
            if choice in ("e", "edit"):
                try:
                    self._reread(stage)
                except (PipelineError, ValueError) as error:
                    self.ui.err.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
                    continue
                self.files.log("edited", stage=stage, files=list(EDITABLE[stage]))
                self.ui.out.print(f"re-read {files}: valid")
            elif choice in ("f", "feedback"):
                text = self.ui.ask("feedback: ").strip()
                if text:
                    self.files.log("feedback", stage=stage, text=text)
                    self._agents[stage](text)
                    self.files.save_state(self.state)
            else:
                self.ui.err.print("answer a, e, f or q")

    def _reread(self, stage: Stage) -> None:
        """Validate what a person edited; a file that does not validate raises, naming it."""
        if stage in ("planning", "evaluation"):
            plan = self.files.plan()
            try:
                self.domain.sample_params(plan, random.Random(0))
            except (KeyError, ValueError) as error:
                raise PipelineError(f"{self.files.path(PLAN)}: {error}") from None
        elif stage == "generation":
            self.files.instances(RAW)
        else:
            self.files.instances(VERIFIED)

    # ---- the run's domain and backends -----------------------------------------------------

    @property
    def domain(self) -> Domain:
        if self._domain is None:
            if self.state.domain == DESCRIBED:
                self._domain = DescribedDomain.from_dir(self.files.path(DOMAIN_DIR))
            elif self.files.path(DOMAIN_DIR, GENERATOR_FILE).is_file():
                base = get_domain(self.state.domain)
                self._domain = WrittenGeneratorDomain.from_dir(base, self.files.path(DOMAIN_DIR))
            else:
                self._domain = get_domain(self.state.domain)
        return self._domain

    def llm(self, spec: str | None = None) -> LLM:
        """The backend `spec` names (default: the run's), built once and shared."""
        spec = spec or self.state.config.backend.spec
        if spec not in self._llms:
            self._llms[spec] = make_backend(spec, self.endpoints)
        return self._llms[spec]

    def _note(self, stage: str, revision: Revision) -> None:
        if revision.applied or revision.rejected:
            self.files.log(
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

    def summary(self) -> dict[str, Any]:
        """What `show` prints: stage, counts, scores."""
        stats_path = self.files.path(VERIFICATION_STATS)
        reports = {}
        for report in sorted(self.files.path(EVALUATION_DIR).glob("*/report.json")):
            data = read_json(report)
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
            "verification": read_json(stats_path) if stats_path.is_file() else None,
            "evaluation": reports,
        }


def _metrics(plan: Plan) -> Sequence[str]:
    """The metrics the evaluation plan names (all of them without a plan)."""
    return plan.evaluation.metrics if plan.evaluation else METRICS
