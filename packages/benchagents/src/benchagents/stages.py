"""The four stages' work on an open run: planning, generation, verification, evaluation.

Each stage runs its agent from the run's files and writes its artifacts as files a person can
read and edit (`run_files`), so a stage that did not finish runs again from its inputs, with
the same seeds. Called with a person's feedback (the review's [f]), a stage's agent revises:
the planner changes the plan (the text is kept in plan.feedback) and the stage's work is
redone where the plan feeds it. `STAGE_WORK` names each stage's function; `evaluate` scores
one target model on the run's latest dataset (the evaluation stage, and `benchagents evaluate`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from benchagents.agents import (
    EvaluationSettings,
    Evaluator,
    Generator,
    Planner,
    Revision,
    Rewrite,
    Verifier,
)
from benchagents.agents.generator_writer import GENERATOR_FILE, write_generator
from benchagents.agents.planner import METRICS
from benchagents.config import DESCRIBED
from benchagents.dataset import load_dataset_dir, write_dataset
from benchagents.domains import get_domain
from benchagents.domains.described import DescribedDomain, write_draft
from benchagents.open_run import OpenRun
from benchagents.plan import Plan
from benchagents.run_files import (
    ANSWERS,
    DOMAIN_DIR,
    PLAN,
    RAW,
    REWRITES,
    VERDICTS,
    VERIFICATION_STATS,
    VERIFIED,
    Stage,
    evaluation_dir,
)
from benchagents.scoring import Metric, ScoreReport
from benchagents.ui import verification_line
from reasonloop.atomic import write_atomic
from reasonloop.jsonl import read_json


def planning(run: OpenRun, feedback: str | None = None) -> None:
    if run.state.domain == DESCRIBED and feedback is None:
        _draft_domain(run)
    planner = Planner(run.domain, run.llm())
    if feedback is None:
        plan, revision = planner.plan(run.state.config.domain.description)
    else:
        plan, revision = planner.revise(run.files.plan(), feedback)
    _note(run, "planning", revision)
    plan.save(run.files.path(PLAN))
    run.ui.out.print(f"plan: {run.files.path(PLAN)}")


def _draft_domain(run: OpenRun) -> None:
    config = run.state.config
    if config.domain.draft:
        domain = DescribedDomain.from_dir(config.domain.draft)
    else:
        run.ui.err.print(
            "the LLM writes the domain's plan and code (small local models rarely manage: "
            "give --draft DIR or a stronger --backend)"
        )
        with run.ui.err.status("drafting the domain"):
            domain = write_draft(run.llm(), config.domain.description or "")
    domain.save(run.files.path(DOMAIN_DIR))
    run.domain = domain
    source = config.domain.draft or config.backend.spec
    run.files.log("domain_drafted", name=domain.name, source=source)


def generation(run: OpenRun, feedback: str | None = None) -> None:
    config = run.state.config
    if feedback is not None:
        plan, revision = Planner(run.domain, run.llm()).revise(run.files.plan(), feedback)
        _note(run, "generation", revision)
        plan.save(run.files.path(PLAN))
    written = run.files.path(DOMAIN_DIR, GENERATOR_FILE).is_file()
    if config.generation.llm_generator and not written:
        _write_generator(run)
    generator = Generator(run.domain, run.llm() if config.generation.rewrite else None)
    with run.ui.progress() as progress:
        result = generator.generate(
            run.files.plan(), config.generation.count, config.run.seed, progress
        )
    run.files.write_jsonl(RAW, [i.model_dump(mode="json") for i in result.instances])
    run.files.write_jsonl(REWRITES, [r.to_json() for r in result.rewrites])
    run.files.log("generated", counts=dict(result.counts), errors=result.errors[:5])
    c, raw = result.counts, run.files.path(RAW)
    run.ui.out.print(
        f"generated {len(result.instances)} instances: {raw} ({c['rewritten']} "
        f"rephrased by the LLM with {c['rephrasings']} rephrasings; "
        f"{c['rephrasings_failed']} rephrasings failed)"
    )


def _write_generator(run: OpenRun) -> None:
    run.ui.err.print(
        "the LLM writes the generator code (small local models rarely manage: drop "
        "--llm-generator for the hand-written one, or give a stronger --backend)"
    )
    with run.ui.err.status("writing the generator"):
        domain = write_generator(run.llm(), get_domain(run.state.domain), run.files.plan())
    domain.save(run.files.path(DOMAIN_DIR))
    run.domain = domain
    run.files.log("generator_written", domain=domain.name, source=run.state.config.backend.spec)


def verification(run: OpenRun, feedback: str | None = None) -> None:
    checks = run.state.config.verification
    instances = run.files.instances(RAW)
    planner = Planner(run.domain, run.llm())
    plan, revision = planner.verification_plan(run.files.plan(), instances[0], feedback)
    _note(run, "verification", revision)
    plan.save(run.files.path(PLAN))
    rewrites = run.files.read_models(REWRITES, Rewrite)
    verifier = Verifier(
        run.domain,
        run.llm(),
        llm_checks=checks.llm_checks,
        llm_check_limit=checks.llm_check_limit or None,
    )
    with run.ui.progress() as progress:
        result = verifier.verify(instances, plan, rewrites, progress)
    run.files.write_jsonl(VERDICTS, [v.to_json() for v in result.verdicts])
    run.files.write_jsonl(VERIFIED, [i.model_dump(mode="json") for i in result.kept])
    stats = result.stats()
    write_atomic(run.files.path(VERIFICATION_STATS), json.dumps(stats, indent=2) + "\n")
    run.files.log("verified", **stats)
    run.ui.out.print(verification_line(stats))


def evaluation(run: OpenRun, feedback: str | None = None) -> None:
    planner = Planner(run.domain, run.llm())
    plan, revision = planner.evaluation_plan(run.files.plan(), feedback)
    _note(run, "evaluation", revision)
    plan.save(run.files.path(PLAN))
    if run.state.dataset is None:
        _write_dataset(run, plan)
    if feedback is not None:  # the metrics shown changed; the answers and scores stand
        run.ui.out.print(f"the report shows: {', '.join(_metrics(plan))}")
        return
    config = run.state.config
    for spec in config.evaluation.targets or [config.backend.spec]:
        evaluate(run, spec)


def _write_dataset(run: OpenRun, plan: Plan) -> None:
    stats = read_json(run.files.path(VERIFICATION_STATS))
    verified = run.files.instances(VERIFIED)
    checker = run.domain.checker_source if isinstance(run.domain, DescribedDomain) else None
    path = write_dataset(
        run.run_dir,
        plan,
        verified,
        run.domain.name,
        stats,
        domain=run.domain,
        checker_code=checker,
    )
    run.state.dataset = str(path.relative_to(run.run_dir))
    run.files.save_state(run.state)
    run.files.log("dataset_written", path=run.state.dataset, instances=len(verified))
    run.ui.out.print(f"dataset: {path} ({len(verified)} verified instances)")


def evaluate(
    run: OpenRun, spec: str, *, samples: int | None = None, metric: Metric | None = None
) -> ScoreReport:
    """Evaluate one target model on the run's latest dataset; writes evaluation/<spec>/."""
    config = run.state.config
    dataset = load_dataset_dir(run.run_dir)
    instances = dataset.instances[: config.evaluation.limit]
    settings = EvaluationSettings(
        samples=samples or config.evaluation.samples,
        max_tokens=config.evaluation.max_new_tokens,
        temperature=config.evaluation.temperature,
        seed=config.run.seed,
        metric=metric or config.evaluation.metric,
    )
    with run.ui.progress() as progress:
        answers, report = Evaluator(run.domain, settings).evaluate(
            run.llm(spec), instances, progress
        )
    directory = evaluation_dir(spec)
    rows = [{"id": k, "answers": v} for k, v in answers.items()]
    run.files.write_jsonl(f"{directory}/{ANSWERS}", rows)
    json_path, png_path = report.write(run.files.path(directory))
    run.files.log(
        "evaluated",
        target=spec,
        dataset=str(dataset.path),
        instances=len(instances),
        samples=settings.samples,
        all_correct=report.all_correct.mean,
        fraction_passed=report.fraction_passed.mean,
    )
    run.ui.show_report(report, _metrics(run.files.plan()))
    run.ui.out.print(f"report: {json_path}, {png_path}")
    return report


# Each stage's work; called with a person's feedback, the stage's agent revises it.
STAGE_WORK: dict[Stage, Callable[[OpenRun, str | None], None]] = {
    "planning": planning,
    "generation": generation,
    "verification": verification,
    "evaluation": evaluation,
}


def _note(run: OpenRun, stage: str, revision: Revision) -> None:
    """Log and show what a plan revision applied and rejected."""
    if revision.applied or revision.rejected:
        run.files.log(
            "plan_revised",
            stage=stage,
            applied=revision.applied,
            rejected=revision.rejected,
            llm_failed=revision.llm_failed,
        )
    for item in revision.applied:
        run.ui.out.print(f"plan: {item}", markup=False)
    for item in revision.rejected:
        run.ui.out.print(f"plan: rejected {item}", style="yellow", markup=False)


def _metrics(plan: Plan) -> Sequence[str]:
    """The metrics the evaluation plan names (all of them without a plan)."""
    return plan.evaluation.metrics if plan.evaluation else METRICS
