"""The policy: grammar-constrained samples, and supervised steps that fit programs."""

from __future__ import annotations

import pytest

from codeit.data import load_tasks
from codeit.policy import Lesson, Policy, task_prompt
from codeit.program import parse
from codeit.seeds import SEED_PROGRAMS
from codeit.targets import fits
from reasonloop.configfile import ModelSection
from reasonloop.models.loading import load_model


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy(
        load_model("tiny-llama", seed=0),
        model_config=ModelSection(lora_rank=8, lora_alpha=16, lora_top_layers=None),
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
    # 128 tokens: typed decoding starts O's line by two thirds of them, leaving room to end it
    groups = policy.sample(
        [lesson.prompt for lesson in lessons[:2]], n=3, temperature=1.0, max_new_tokens=128, seed=0
    )
    assert [len(g) for g in groups] == [3, 3]
    for program in (p for g in groups for p in g):
        assert program.strip().splitlines()[-1].startswith("O = ")
        parse(program)  # every sample parses: the grammar only lets defined names in


def test_sparse_prompt_and_token_budget(policy: Policy) -> None:
    from codeit.data import Example
    from codeit.grid import grid_to_sparse_text

    grid = ((0, 0, 5), (0, 7, 0))
    assert grid_to_sparse_text(grid) == "2x3 bg 0: 0,2:5 1,1:7"
    assert grid_to_sparse_text(((4, 4), (4, 4))) == "2x2 bg 4:"
    examples = [Example(grid, ((5,),))] * 10
    sparse = task_prompt(examples, 10, encoding="sparse")
    assert sparse.count("input:\n2x3 bg 0: 0,2:5 1,1:7\noutput:\n1x1 bg 5:\n") == 10
    # a budget shows the pairs that fit, and always the first
    one = policy.count_tokens(task_prompt(examples, 1, encoding="sparse"))
    pair = policy.count_tokens(task_prompt(examples, 2, encoding="sparse")) - one
    budget = one + 3 * pair
    fitted = task_prompt(
        examples, 10, encoding="sparse", max_tokens=budget, count_tokens=policy.count_tokens
    )
    assert fitted.count("input:") == 4 and policy.count_tokens(fitted) <= budget
    tight = task_prompt(examples, 10, max_tokens=16, count_tokens=policy.count_tokens)
    assert tight.count("input:") == 1 and tight.endswith("program:\n")
    with pytest.raises(ValueError, match="count_tokens"):
        task_prompt(examples, 10, max_tokens=100)
