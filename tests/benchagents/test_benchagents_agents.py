"""The four agents and the described domain, on the calendar domain and a tiny real model."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from benchagents.agents import (
    EvaluationSettings,
    Evaluator,
    Generator,
    PlanEdits,
    Planner,
    Rewrite,
    Verifier,
    apply_edits,
    fact_problem,
    metric_rows,
)
from benchagents.agents.planner import CLARITY, REWRITE, ChoiceEdit, RangeEdit
from benchagents.domains import get_domain
from benchagents.domains.described import (
    DescribedDomain,
    DescribedDomainError,
    domain_from_draft,
    trial,
    write_draft,
)
from benchagents.llm.local import LocalBackend

DRAFT = Path(__file__).with_name("drafts") / "addition"  # hand-written, as if by an LLM
GENERATOR = (DRAFT / "generator.py").read_text()
CHECKER = (DRAFT / "checker.py").read_text()
HANG = "def generate(params, seed):\n    while True:\n        pass\n"


@pytest.fixture(scope="module")
def calendar():
    return get_domain("calendar")


@pytest.fixture(scope="module")
def llm() -> LocalBackend:
    return LocalBackend("tiny-llama", device="cpu")


def write_draft_dir(path: Path, generator: str = GENERATOR) -> Path:
    shutil.copytree(DRAFT, path)
    (path / "generator.py").write_text(generator)
    return path


def test_plan_edits_stay_inside_the_domains_envelope(calendar) -> None:
    default = calendar.default_plan()
    edits = PlanEdits(
        ranges=[
            RangeEdit(parameter="num_participants", low=2.4, high=3.2),  # ints are rounded
            RangeEdit(parameter="num_days", low=0, high=9),  # leaves the envelope
            RangeEdit(parameter="num_constraints", low=4, high=1),  # inverted
            RangeEdit(parameter="no_such", low=1, high=2),
        ],
        choices=[
            ChoiceEdit(parameter="granularity", choices=["30", "60"]),
            ChoiceEdit(parameter="granularity", choices=["7"]),
        ],
    )
    plan, revision = apply_edits(default, default, edits)
    assert (
        plan.parameter("num_participants").low == 2 and plan.parameter("num_participants").high == 3
    )
    assert plan.parameter("num_days") == default.parameter("num_days")
    assert plan.parameter("granularity").choices == ["30", "60"]
    assert len(revision.applied) == 2 and len(revision.rejected) == 4
    assert any("leaves" in r for r in revision.rejected)
    assert any("no numeric parameter" in r for r in revision.rejected)


def test_planner_keeps_the_default_without_a_request_and_records_feedback(calendar, llm) -> None:
    planner = Planner(calendar, llm, max_tokens=40)
    calls = llm.stats["calls"]
    plan, revision = planner.plan()
    assert plan == calendar.default_plan() and not revision.applied
    assert llm.stats["calls"] == calls  # nothing asked: no model call

    revised, revision = planner.revise(plan, "Use fewer participants.")
    assert revised.feedback == ["Use fewer participants."]
    assert llm.stats["calls"] > calls
    envelope = {p.name: p for p in calendar.default_plan().parameters}
    for p in revised.parameters:  # whatever the model said, the plan stays valid
        if p.kind == "int":
            assert envelope[p.name].low <= p.low <= p.high <= envelope[p.name].high
    calendar.sample_params(revised, random.Random(0))


def test_verification_and_evaluation_plans(calendar, llm) -> None:
    planner = Planner(calendar, llm)
    plan = calendar.default_plan()
    sample = calendar.generate(
        calendar.sample_params(plan, random.Random(1)), random.Random(1), "x"
    )
    plan, _ = planner.verification_plan(plan, sample)
    names = [c.name for c in plan.verification]
    assert names[0] == REWRITE.name and CLARITY in plan.verification
    assert {"schema", "consistency", "reference", "prompt"} <= set(names)
    plan, _ = planner.evaluation_plan(plan)
    assert plan.evaluation.answer_format == calendar.answer_instructions()


def test_generation_is_a_reproducible_sweep(calendar) -> None:
    plan = calendar.default_plan()
    generator = Generator(calendar, None)
    five = generator.generate(plan, 5, seed=3).instances
    assert generator.generate(plan, 3, seed=3).instances == five[:3]  # instance i: its own rng
    assert generator.generate(plan, 3, seed=4).instances != five[:3]
    assert len({i.id for i in five}) == 5
    for instance in five:
        for p in plan.parameters:
            if p.kind == "int":
                assert p.low <= instance.params[p.name] <= p.high


def test_llm_rewrites_are_recorded_and_counted(calendar, llm) -> None:
    plan = calendar.default_plan()
    result = Generator(calendar, llm, max_tokens=24, variants=2).generate(plan, 3, seed=0)
    c = result.counts
    assert c["rephrasings"] + c["rephrasings_failed"] == 2  # one shared intro, 2 variants
    assert c["rewritten"] == len(result.rewrites) == (3 if c["rephrasings"] else 0)
    plain = Generator(calendar, None).generate(plan, 3, seed=0).instances
    recorded = {int(rewrite.id.rsplit("-", 1)[1]): rewrite for rewrite in result.rewrites}
    assert len(result.instances) == len(plain) == 3
    # every instance is the plain one, or differs from it exactly by its recorded rewrite
    # (the tiny random model's rephrasings mostly fail the fact checks: then none may leak in)
    for position, (made, reference) in enumerate(zip(result.instances, plain, strict=True)):
        rewrite = recorded.get(position)
        expected = (
            reference.prompt
            if rewrite is None
            else reference.prompt.replace(rewrite.original, rewrite.text, 1)
        )
        assert made.prompt == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Please find a shared time slot for a meeting with everyone below.", None),
        ("Find a common slot for a 30 minute meeting.", "numbers differ"),
        ("Find a common time slot for a meeting with Bob below.", "new name 'Bob'"),
        ("Find a slot.\nNow.", "several lines"),
        ("Find a common time slot. Check the meeting place too.", "adds a sentence"),
        ("", "empty"),
        ("Slot?", "length"),
    ],
)
def test_fact_problem(text: str, problem: str | None) -> None:
    original = "Find a common time slot for a meeting with the participants below."
    found = fact_problem(original, text)
    assert found == problem if problem is None else problem in found


def test_verifier_repairs_drops_and_reverts(calendar, llm) -> None:
    plan = calendar.default_plan()
    good, wrong_reference, broken, rewritten = (
        Generator(calendar, None).generate(plan, 4, seed=5).instances
    )
    wrong_reference = wrong_reference.model_copy(update={"reference": "Sunday 01:00-02:00"})
    broken = broken.model_copy(update={"params": {**broken.params, "granularity": 7}})
    intro = calendar.llm_fields(rewritten)["intro"]
    bad = "Find a slot on Friday with Zoe."
    rewritten = calendar.apply_llm_fields(rewritten, {"intro": bad})
    rewrites = [Rewrite(rewritten.id, "intro", intro, bad)]

    result = Verifier(calendar, llm, llm_checks="off").verify(
        [good, wrong_reference, broken, rewritten], plan, rewrites
    )
    assert [i.id for i in result.kept] == [good.id, wrong_reference.id, rewritten.id]
    assert result.rejected == {"schema": 1}
    assert result.repaired == 1 and result.reverted == 1
    assert result.kept[1].reference != "Sunday 01:00-02:00"
    assert result.kept[2].prompt.startswith(intro)
    stats = result.stats()
    assert stats["generated"] == 4 and stats["verified"] == 3


def test_llm_checks_advisory_keeps_and_enforce_drops_on_no(calendar, llm) -> None:
    plan, _ = Planner(calendar, llm).verification_plan(calendar.default_plan(), _one(calendar))
    instances = Generator(calendar, None).generate(plan, 2, seed=6).instances
    advisory = Verifier(calendar, llm, max_tokens=24).verify(instances, plan)
    assert len(advisory.kept) == 2
    assert sum(advisory.llm_answers.values()) == 2  # one clarity answer each, recorded
    enforce = Verifier(calendar, llm, llm_checks="enforce", max_tokens=24).verify(instances, plan)
    answers = [v.llm[0].answer for v in enforce.verdicts]
    assert len(enforce.kept) == 2 - answers.count("no")
    assert enforce.rejected.get("llm:clarity", 0) == answers.count("no")


def test_evaluator_samples_and_scores(calendar, llm) -> None:
    instances = Generator(calendar, None).generate(calendar.default_plan(), 3, seed=7).instances
    settings = EvaluationSettings(samples=2, max_tokens=6, seed=1)
    answers, report = Evaluator(calendar, settings).evaluate(llm, instances)
    assert set(answers) == {i.id for i in instances}
    assert all(len(a) == 2 for a in answers.values())
    assert report.samples == 2 and len(report.instances) == 3
    rows = metric_rows(report, ["all_correct", "per_constraint"])
    assert rows[0][0] == "all_correct" and rows[1][0].startswith("constraint ")
    with pytest.raises(ValueError, match="unknown metric"):
        metric_rows(report, ["accuracy"])


def test_described_domain_runs_hand_written_code_in_the_sandbox(tmp_path: Path) -> None:
    domain = DescribedDomain.from_dir(write_draft_dir(tmp_path / "draft"))
    trial(domain)
    plan = domain.default_plan()
    instances = Generator(domain, None).generate(plan, 4, seed=0).instances
    assert all(i.prompt.startswith("What is") for i in instances)
    assert all(all(v.passed for v in domain.verify(i)) for i in instances)
    one = instances[0]
    assert all(c.passed for c in domain.check(one, f"It is {one.reference}"))
    assert not domain.check(one, "no idea")[0].passed
    domain.save(tmp_path / "copy")
    assert DescribedDomain.from_dir(tmp_path / "copy").checker_source == CHECKER


def test_described_domain_survives_hostile_code(tmp_path: Path) -> None:
    hanging = DescribedDomain.from_dir(write_draft_dir(tmp_path / "hang", HANG))
    hanging.time_limit_s = 0.5
    with pytest.raises(DescribedDomainError, match=r"no instance was generated.*timeout"):
        Generator(hanging, None).generate(hanging.default_plan(), 2, seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DescribedDomainError, match=r"lacks plan\.yaml, generator\.py, checker\.py"):
        DescribedDomain.from_dir(tmp_path / "empty")


def test_a_weak_model_cannot_draft_a_domain(llm) -> None:
    with pytest.raises(DescribedDomainError, match="--draft DIR"):
        write_draft(llm, "Sort a list of numbers.", max_retries=0, max_tokens=40)


def test_a_draft_whose_reference_fails_its_checker_is_refused(tmp_path: Path) -> None:
    domain = DescribedDomain.from_dir(write_draft_dir(tmp_path / "d"))
    wrong = GENERATOR.replace('"reference": str(a + b)', '"reference": str(a + b + 1)')
    broken = domain_from_draft(
        _draft_of(domain, wrong), "Add two small numbers, with a wrong reference."
    )
    with pytest.raises(DescribedDomainError, match="trial instance fails reference"):
        trial(broken)


def _draft_of(domain: DescribedDomain, generator: str):
    from benchagents.domains.described import DomainDraft

    return DomainDraft(
        name="addition",
        parameters=domain.plan.parameters,
        constraints=domain.plan.constraints,
        answer_format="the number only",
        generator_code=generator,
        checker_code=domain.checker_source,
    )


def _one(calendar):
    plan = calendar.default_plan()
    return calendar.generate(calendar.sample_params(plan, random.Random(0)), random.Random(0), "x")
