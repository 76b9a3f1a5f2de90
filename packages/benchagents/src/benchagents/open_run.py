"""Opening a run directory: `OpenRun`, a run's state, files, terminal, domain and backends.

A run is created (its config checked against the domains first, so a bad one leaves nothing
on disk), imported (a dataset from elsewhere, e.g. BA-Calendar, at the evaluation stage) or
opened as its `state.json` left it, to resume, evaluate, serve or show. The stages
(`benchagents.stages`) and the review (`benchagents.review`) work on an `OpenRun`; the
backends it builds are shared by them and released by `close` (or leaving a `with` block).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from benchagents.agents.generator_writer import GENERATOR_FILE, WrittenGeneratorDomain
from benchagents.config import DESCRIBED, RunConfig
from benchagents.dataset import write_dataset
from benchagents.domains import Domain, get_domain
from benchagents.domains.described import DescribedDomain
from benchagents.instance import Instance
from benchagents.llm import LLM, Endpoints, make_backend
from benchagents.run_files import (
    DOMAIN_DIR,
    EVALUATION_DIR,
    PLAN,
    STATE,
    VERIFICATION_STATS,
    PipelineError,
    RunFiles,
    RunState,
)
from benchagents.scoring import reference_grader
from benchagents.ui import UI
from reasonloop.jsonl import read_json


class OpenRun:
    """One run directory, opened: its state, its files (`RunFiles`), the UI, the run's domain
    and the backends it has built."""

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

    @classmethod
    def create(
        cls, run_dir: Path, config: RunConfig, ui: UI, endpoints: Endpoints | None = None
    ) -> Self:
        """A new run in `run_dir` (which must not hold one already)."""
        if (run_dir / STATE).exists():
            raise PipelineError(f"{run_dir} already holds a run; continue it with create --resume")
        _check_new(config)
        run = cls(run_dir, RunState(domain=config.domain.name, config=config), ui, endpoints)
        for spec in [config.backend.spec, *config.evaluation.targets]:
            run.llm(spec)  # a bad spec fails now, before the run exists (models load later)
        run_dir.mkdir(parents=True, exist_ok=True)
        run.files.save_state(run.state)
        run.files.log("created", config=config.model_dump(mode="json"))
        return run

    @classmethod
    def imported(
        cls, run_dir: Path, domain: str, instances: list[Instance], source: str, ui: UI
    ) -> Self:
        """A run whose dataset comes from elsewhere (e.g. BA-Calendar): the domain's default
        plan, a dataset version, and the state at evaluation, so `resume` evaluates it."""
        run = cls.create(run_dir, RunConfig.for_domain(domain), ui)
        plan = run.domain.default_plan()
        plan.save(run.files.path(PLAN))
        stats = {"imported": len(instances), "source": source}
        path = write_dataset(run_dir, plan, instances, domain, stats, domain=run.domain)
        run.state.dataset = str(path.relative_to(run_dir))
        run.state.stage = "evaluation"
        run.files.save_state(run.state)
        run.files.log("imported", source=source, instances=len(instances), dataset=str(path))
        return run

    @classmethod
    def open(cls, run_dir: Path, ui: UI, endpoints: Endpoints | None = None) -> Self:
        """The run in `run_dir`, as its state.json left it."""
        return cls(run_dir, RunFiles(run_dir).read_state(), ui, endpoints)

    def close(self) -> None:
        """Release the backends (model memory, connections)."""
        for llm in self._llms.values():
            llm.close()
        self._llms.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def domain(self) -> Domain:
        """The run's domain: built in, drafted into the run, or built in with the generator
        the LLM wrote into the run."""
        if self._domain is None:
            if self.state.domain == DESCRIBED:
                self._domain = DescribedDomain.from_dir(self.files.path(DOMAIN_DIR))
            elif self.files.path(DOMAIN_DIR, GENERATOR_FILE).is_file():
                base = get_domain(self.state.domain)
                self._domain = WrittenGeneratorDomain.from_dir(base, self.files.path(DOMAIN_DIR))
            else:
                self._domain = get_domain(self.state.domain)
        return self._domain

    @domain.setter
    def domain(self, domain: Domain) -> None:
        """The domain a stage just wrote into the run (and saved in its domain directory)."""
        self._domain = domain

    def llm(self, spec: str | None = None) -> LLM:
        """The backend `spec` names (default: the run's), built once and shared."""
        spec = spec or self.state.config.backend.spec
        if spec not in self._llms:
            self._llms[spec] = make_backend(spec, self.endpoints)
        return self._llms[spec]

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


def _check_new(config: RunConfig) -> None:
    """A new run's config against the domains (a PipelineError or ValueError of one line)."""
    domain, generation = config.domain, config.generation
    if domain.name == DESCRIBED:
        if not domain.description and not domain.draft:
            raise PipelineError("a described domain needs --description (or --draft DIR)")
    else:
        get_domain(domain.name)  # ValueError naming the known domains
    if generation.llm_generator and domain.name == DESCRIBED:
        raise PipelineError(
            "--llm-generator is for the built-in domains (a described domain's generator "
            "is written by the LLM already)"
        )
    if config.evaluation.metric == "reference" and (
        domain.name == DESCRIBED or reference_grader(get_domain(domain.name)) is None
    ):
        raise PipelineError(
            f"--metric reference: the {domain.name} domain has no reference metric "
            "(BA-Calendar's exists for calendar)"
        )
