"""Typed decoding: every finished sample type-checks, well-typed programs are never refused."""

from __future__ import annotations

import pytest
import torch

from codeit.data import load_tasks
from codeit.policy import Policy, task_prompt
from codeit.program import check_types, parse
from codeit.seeds import SEED_PROGRAMS
from codeit.targets import fits
from codeit.typed_decoding import TypedDecoder, _State
from reasonloop.configfile import ModelSection
from reasonloop.models.loading import load_model


@pytest.fixture(scope="module")
def policy() -> Policy:
    torch.set_num_threads(1)
    return Policy(
        load_model("tiny-llama", seed=0),
        model_config=ModelSection(lora_rank=4, lora_alpha=8, lora_top_layers=None),
        learning_rate=1e-2,
        max_grad_norm=1.0,
    )


def _walk(decoder: TypedDecoder, text: str) -> tuple[_State | None, int]:
    """The state after `text`, and how many characters were accepted before a refusal."""
    state: _State | None = _State(decoder.types.start())
    for k, char in enumerate(text):
        state = decoder.step(state, char)
        if state is None:
            return None, k
    return state, len(text)


def test_every_finished_sample_type_checks(policy: Policy) -> None:
    tasks = [t for t in load_tasks("arc1-train") if fits(t, 5)][:3]
    prompts = [task_prompt(t.train, 1) for t in tasks]
    groups = policy.sample(prompts, n=16, temperature=1.5, max_new_tokens=160, seed=3)
    samples = [p for g in groups for p in g]
    assert len(samples) == 48
    finished = [p for p in samples if p.rstrip().split("\n")[-1].startswith("O = ")]
    finished = [p for p in finished if p.rstrip().endswith(")")]
    for program in finished:  # a random model writes whatever the mask lets through
        check_types(parse(program))
    assert len(finished) >= 44, f"{len(finished)} of 48 finished: {samples}"
    assert len(set(finished)) > 10  # varied programs, not one forced path


def test_well_typed_programs_are_admitted_and_ill_typed_refused(policy: Policy) -> None:
    decoder = policy.typed
    admitted = 0
    for source in SEED_PROGRAMS.values():
        program = parse(source)
        if len(program) > decoder.types.max_lines:
            continue
        state, accepted = _walk(decoder, program.to_source())
        assert state is not None, f"refused at {accepted}: {program.to_source()!r}"
        assert decoder.types.context(state.context).eos or state.context == ("done",)
        admitted += 1
    assert admitted > 100
    # x1 is a set of objects: `objects` takes a grid, so `objects(x1` is refused at the x
    prefix = "x1 = objects(I, TRUE, FALSE, TRUE)\nx2 = objects("
    state, accepted = _walk(decoder, prefix + "x1")
    assert state is None and accepted == len(prefix)
    # O must be a Grid: `O = objects(` is refused at its first letter's dead end
    state, accepted = _walk(decoder, "O = objects(")
    assert state is None and accepted < len("O = objects(")
    # an undefined variable is refused
    state, accepted = _walk(decoder, "O = vmirror(x3")
    assert state is None


@pytest.mark.parametrize(
    "text",
    [
        "import os\nO = vmirror(I)\n",
        "O = frobnicate(I)\n",
        "O = vmirror(I, I)\n",  # arity
        "O = upscale(I, 31)\n",  # literal range
        "O = upscale(I, RED)\nx1 = vmirror(I)\n",  # O must come last
        "O = fill(I, TRUE, I)\n",  # a Bool constant in a Color slot
        "x1 = objects(I, TRUE, FALSE, TRUE)\nO = argmax(x1, vmirror)\n",  # not a Grid
        "x1 = objects(I, TRUE, FALSE, TRUE)\nx2 = argmax(x1, vmirror)\n",  # wrong function
        "x1 = vmirror(I)\n",  # no O: not refused, but cannot end here
    ],
)
def test_programs_outside_the_typed_language_are_refused(policy: Policy, text: str) -> None:
    state, _ = _walk(policy.typed, text)
    assert state is None or not policy.typed.types.context(state.context).eos


def test_the_mask_allows_exactly_the_tokens_that_step(policy: Policy) -> None:
    decoder = policy.typed
    # paint(Grid, Object): x1 is a set of objects, so only x2 fills the slot
    state, _ = _walk(decoder, "x1 = objects(I, TRUE, FALSE, TRUE)\nO = paint(I, ")
    assert state is None
    state, _ = _walk(decoder, "x1 = objects(I, TRUE, FALSE, TRUE)\nx2 = first(x1)\nO = paint(I, ")
    assert state is not None
    assert set(decoder.types.context(state.context).words) == {"x2)"}
    allowed = set(decoder.allowed(state).tolist())
    for token, text in decoder.vocabulary.texts.items():
        at: _State | None = state
        for char in text:
            at = decoder.step(at, char) if at is not None else None
        assert (at is not None) == (token in allowed), repr(text)
    assert not allowed & decoder.vocabulary.eos_ids  # a call is open: no end here
