"""The policy: grammar-constrained samples, and supervised steps that fit programs."""

from __future__ import annotations

import pytest

from codeit.data import load_tasks
from codeit.policy import Lesson, Policy, task_prompt
from codeit.program import parse
from codeit.seeds import SEED_PROGRAMS
from codeit.targets import fits
from reasonloop.models import load_model


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy(
        load_model("tiny-llama", seed=0),
        lora=True,
        lora_rank=8,
        lora_alpha=16,
        learning_rate=1e-2,
        max_grad_norm=1.0,
    )


@pytest.fixture(scope="module")
def lessons() -> list[Lesson]:
    tasks = [t for t in load_tasks("arc1-train") if t.id in SEED_PROGRAMS and fits(t, 6)][:4]
    return [Lesson(task_prompt(t.train, 2), SEED_PROGRAMS[t.id]) for t in tasks]


def test_learning_steps_fit_the_programs(policy: Policy, lessons: list[Lesson]) -> None:
    losses = [policy.learn(lessons) for _ in range(6)]
    assert losses[-1] < 0.8 * losses[0]


def test_samples_follow_the_grammar(policy: Policy, lessons: list[Lesson]) -> None:
    groups = policy.sample(
        [lesson.prompt for lesson in lessons[:2]], n=3, temperature=1.0, max_new_tokens=40, seed=0
    )
    assert [len(g) for g in groups] == [3, 3]
    for program in (p for g in groups for p in g):
        lines = program.strip().splitlines()
        assert all(" = " in line and line.endswith(")") for line in lines[:-1])
        if lines and lines[-1].startswith("O = ") and lines[-1].endswith(")"):
            parse(program)  # a complete sample parses: the grammar only lets defined names in
