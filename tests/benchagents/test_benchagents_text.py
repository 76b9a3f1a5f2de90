"""Text domain: each checker passing and failing on hand-written texts, consistency and
satisfiability (the witness), verification and repair, and the generator over 100 seeds."""

from __future__ import annotations

import random

import pytest

from benchagents.domains import get_domain
from benchagents.domains.text.constraints import TextConstraints
from benchagents.domains.text.domain import render_prompt
from benchagents.domains.text.witness import build_witness
from benchagents.instance import Instance

DOMAIN = get_domain("text")


def make(**constraints: object) -> Instance:
    instance = Instance(id="t", prompt="", params={"topic": "tea"}, constraints=constraints)
    return instance.model_copy(update={"prompt": render_prompt(instance)})


def result(answer: str, **constraints: object) -> tuple[bool, str]:
    (check,) = DOMAIN.check(make(**constraints), answer)
    return check.passed, check.detail


@pytest.mark.parametrize(
    ("answer", "constraints", "passed", "detail"),
    [
        ("Tea leaves came from China.", {"include_keywords": ["leaves", "china"]}, True, ""),
        ("Tea leaves came from China.", {"include_keywords": ["leaves", "kettle"]}, False,
         "missing: kettle"),
        ("Some leavesx here.", {"include_keywords": ["leaves"]}, False, "missing: leaves"),
        ("We BREW it daily.", {"exclude_words": ["brew"]}, False, "uses: brew"),
        ("We brewed it daily.", {"exclude_words": ["brew"]}, True, ""),
        ("I don't like cold tea.", {"min_words": 5}, True, "5 words"),
        ("I don't like cold tea.", {"min_words": 6}, False, "5 words, at least 6"),
        ("I don't like cold tea.", {"max_words": 5}, True, ""),
        ("I don't like cold tea.", {"max_words": 4}, False, "at most 4"),
        ("One here. Two there! Three?", {"num_sentences": 3}, True, "3 sentences"),
        ("One here. Two there", {"num_sentences": 3}, False, "2 sentences, 3 required"),
        ("Tea, more tea, and TEA.", {"keyword_frequency": {
            "word": "tea", "count": 3, "relation": "exactly"}}, True, "appears 3 times"),
        ("Tea, more tea.", {"keyword_frequency": {
            "word": "tea", "count": 3, "relation": "exactly"}}, False, "appears 2 times"),
        ("Tea tea tea tea.", {"keyword_frequency": {
            "word": "tea", "count": 3, "relation": "at least"}}, True, ""),
        ("Tea tea tea tea.", {"keyword_frequency": {
            "word": "tea", "count": 3, "relation": "exactly"}}, False, "exactly 3"),
        ("Intro\n- one\n- two\n* three", {"bullet_list": 3}, True, "3 bullet items"),
        ("-one\n- two\n- three", {"bullet_list": 3}, False, "2 bullet items"),
        ("all quiet here.", {"all_lowercase": True}, True, ""),
        ("all Quiet here, OK.", {"all_lowercase": True}, False, "capital letters: KOQ"),
        ("Enjoy. Thank you for reading.\n", {"end_phrase": "Thank you for reading."}, True, ""),
        ("Thank you for reading. Bye.", {"end_phrase": "Thank you for reading."}, False,
         "ends with"),
        ('{"summary": "x", "tone": "calm"}', {"json_keys": ["summary", "tone"]}, True, ""),
        ('```json\n{"summary": "x", "tone": "calm"}\n```', {"json_keys": ["summary", "tone"]},
         True, ""),
        ('{"summary": "x"}', {"json_keys": ["summary", "tone"]}, False, "missing keys: tone"),
        ("summary: x", {"json_keys": ["summary"]}, False, "not a JSON object"),
        ('["summary"]', {"json_keys": ["summary"]}, False, "not a JSON object"),
        ("<<A Tea Story>>\nOnce upon a time.", {"title": True}, True, "<<A Tea Story>>"),
        ("<< >> no title", {"title": True}, False, "no <<title>>"),
        ("No title at all.", {"title": True}, False, "no <<title>>"),
    ],
)  # fmt: skip
def test_each_checker(answer: str, constraints: dict, passed: bool, detail: str) -> None:
    got_passed, got_detail = result(answer, **constraints)
    assert got_passed is passed
    assert detail in got_detail


def test_empty_answer_fails_every_check() -> None:
    inst = make(include_keywords=["tea"], min_words=3, title=True)
    for answer in ("", "  \n"):
        checks = DOMAIN.check(inst, answer)
        assert [c.name for c in checks] == ["include_keywords", "min_words", "title"]
        assert all(not c.passed and c.detail == "malformed answer: empty" for c in checks)


def test_checks_come_in_canonical_order_one_per_constraint() -> None:
    inst = make(title=True, max_words=40, include_keywords=["tea"])
    assert [c.name for c in DOMAIN.check(inst, "<<Tea>> tea")] == [
        "include_keywords",
        "max_words",
        "title",
    ]
    assert DOMAIN.constrainedness(inst) == 3


@pytest.mark.parametrize(
    ("constraints", "issue"),
    [
        ({"include_keywords": ["tea"], "exclude_words": ["Tea"]}, "both included and excluded"),
        ({"min_words": 50, "max_words": 20}, "min_words 50 > max_words 20"),
        ({"json_keys": ["a"], "bullet_list": 3}, "bullet_list and json_keys cannot both hold"),
        ({"num_sentences": 3, "bullet_list": 3}, "cannot both hold"),
        ({"all_lowercase": True, "end_phrase": "Thanks."}, "has capitals"),
        (
            {"exclude_words": ["tea"], "keyword_frequency": {
                "word": "tea", "count": 2, "relation": "exactly"}},
            "must appear but is excluded",
        ),
        ({"exclude_words": ["reading"], "end_phrase": "Thank you for reading."}, "end_phrase"),
        ({"bullet_list": 5, "max_words": 4}, "bullet_list needs 5 words"),
    ],
)  # fmt: skip
def test_inconsistent_constraints_are_caught_and_dropped(constraints: dict, issue: str) -> None:
    inst = make(**constraints)
    verdicts = DOMAIN.verify(inst)
    consistency = {v.name: v for v in verdicts}["consistency"]
    assert not consistency.passed and issue in consistency.detail
    assert DOMAIN.repair(inst, verdicts) is None


def test_witness_shows_satisfiability() -> None:
    inst = make(
        include_keywords=["leaves", "china"],
        exclude_words=["many"],
        min_words=30,
        max_words=40,
        num_sentences=4,
        keyword_frequency={"word": "brew", "count": 3, "relation": "exactly"},
        all_lowercase=True,
        end_phrase="that is all for today.",
        title=True,
    )
    witness = build_witness(TextConstraints.model_validate(inst.constraints))
    assert witness is not None
    assert all(c.passed for c in DOMAIN.check(inst, witness)), DOMAIN.check(inst, witness)
    assert "many" not in witness.split()
    # Three keywords in two words: consistent on its face, but no witness exists.
    cramped = make(include_keywords=["tea", "cup", "pot"], max_words=2)
    verdicts = {v.name: v for v in DOMAIN.verify(cramped)}
    assert verdicts["consistency"].passed
    assert not verdicts["satisfiable"].passed
    assert "no witness" in verdicts["satisfiable"].detail


def test_verify_and_repair_reference_and_prompt() -> None:
    inst = DOMAIN.generate({"num_constraints": 4, "topic": "bread baking"}, random.Random(1), "b")
    assert all(v.passed for v in DOMAIN.verify(inst))
    broken = inst.model_copy(update={"reference": "nothing useful"})
    verdicts = DOMAIN.verify(broken)
    assert [v.name for v in verdicts if not v.passed] == ["reference"]
    assert DOMAIN.repair(broken, verdicts).reference == inst.reference
    missing = inst.model_copy(update={"reference": None})
    assert {v.name: v.detail for v in DOMAIN.verify(missing)}["reference"] == "no reference"
    vague = inst.model_copy(update={"prompt": "Write something about bread baking."})
    verdicts = DOMAIN.verify(vague)
    assert [v.name for v in verdicts if not v.passed] == ["prompt"]
    assert all(v.passed for v in DOMAIN.verify(DOMAIN.repair(vague, verdicts)))
    bad = inst.model_copy(update={"constraints": {"min_words": -3}})
    (schema,) = DOMAIN.verify(bad)
    assert schema.name == "schema" and not schema.passed and "min_words" in schema.detail
    assert DOMAIN.repair(bad, [schema]) is None


def test_generated_instances_verify_and_references_pass() -> None:
    plan = DOMAIN.default_plan()
    seen: set[str] = set()
    for seed in range(100):
        rng = random.Random(seed)
        params = DOMAIN.sample_params(plan, rng)
        inst = DOMAIN.generate(params, rng, f"text-{seed}")
        assert all(v.passed for v in DOMAIN.verify(inst)), (seed, DOMAIN.verify(inst))
        assert all(c.passed for c in DOMAIN.check(inst, inst.reference))
        assert DOMAIN.constrainedness(inst) == params["num_constraints"]
        assert inst.params["topic"] in inst.prompt
        seen |= set(inst.constraints)
    assert len(seen) == 11  # every kind of constraint occurs


def test_generator_is_deterministic_and_validates_params() -> None:
    params = {"num_constraints": 8, "topic": "the ocean"}
    a = DOMAIN.generate(params, random.Random(5), "a")
    assert a == DOMAIN.generate(params, random.Random(5), "a")
    assert DOMAIN.constrainedness(a) == 8
    with pytest.raises(ValueError, match="num_constraints must be 1-8"):
        DOMAIN.generate({"num_constraints": 9}, random.Random(0), "x")
    # A topic outside the built-in list (e.g. one an LLM proposed) still works.
    other = DOMAIN.generate({"num_constraints": 3, "topic": "jazz"}, random.Random(0), "j")
    assert all(v.passed for v in DOMAIN.verify(other))


def test_llm_may_propose_another_topic() -> None:
    inst = DOMAIN.generate({"num_constraints": 3, "topic": "the ocean"}, random.Random(2), "o")
    assert DOMAIN.llm_fields(inst) == {"topic": "the ocean"}
    new = DOMAIN.apply_llm_fields(inst, {"topic": "river deltas"})
    assert new.params["topic"] == "river deltas"
    assert "about river deltas." in new.prompt and "the ocean" not in new.prompt
    assert all(v.passed for v in DOMAIN.verify(new))
