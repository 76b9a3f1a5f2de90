"""Continuous batching: requests join the running batch between two steps and leave it the
step they finish, and nothing a request gets depends on when it joined or who its neighbours
were. The joins are driven step by step through `RunningBatch` (no timing involved), then
through the engine."""

from __future__ import annotations

import pytest
import torch

from reasonloop.rpc.engine import EngineLimits, InferenceEngine
from reasonloop.sampling import SamplingParams, ThinkingConfig
from reasonloop.sampling.decoder import Completion, Joining, RunningBatch, Sampler
from reasonloop.sampling.prefix_cache import PrefixCache

GREEDY = SamplingParams(max_new_tokens=12, temperature=0, ignore_eos=True)
LONG = SamplingParams(max_new_tokens=60, temperature=0, ignore_eos=True)


@pytest.fixture(scope="module")
def sampler(tiny) -> Sampler:
    return Sampler(tiny.model, tiny.tokenizer)


Request = tuple[str, SamplingParams]


def run_with_joins(
    sampler: Sampler, schedule: dict[int, list[Request]]
) -> tuple[dict[Request, Completion], RunningBatch]:
    """Decode `schedule[step]`'s requests joining at that step; each request's completion."""
    batch = RunningBatch(sampler, stream_text=False)
    done: dict[Request, Completion] = {}
    step = 0
    while step <= max(schedule) or batch.rows_live:
        if step in schedule:
            batch.add(
                [
                    Joining([sampler.encode(p)], params, owner=(p, params))
                    for p, params in schedule[step]
                ]
            )
        events, _ = batch.decide()
        for owner, event in events:
            done[owner] = event.completion
        if batch.rows_live:
            batch.forward()
        step += 1
    return done, batch


def alone(sampler: Sampler, prompt: str, params: SamplingParams) -> Completion:
    return sampler.generate([prompt], params)[0][0]


def test_greedy_rows_joining_at_any_step_get_what_they_get_alone(sampler) -> None:
    # the joiners' prompts are longer than the batch's width when they join: the cache makes
    # room in front (it grows), and rows joining later reuse the slots of rows that left
    schedule = {
        0: [("hi", LONG)],
        3: [("a much longer prompt than the first one, joining at step three", GREEDY)],
        5: [("two at once", GREEDY), ("two at once, the second", GREEDY)],
        20: [("after the first joiners left", GREEDY)],
        40: [("x " * 80, GREEDY)],
    }
    done, _ = run_with_joins(sampler, schedule)
    for joiners in schedule.values():
        for prompt, params in joiners:
            assert done[prompt, params].token_ids == alone(sampler, prompt, params).token_ids, (
                prompt
            )


def test_seeded_soft_fuzzy_and_hard_rows_are_independent_of_their_neighbours(sampler) -> None:
    soft = ThinkingConfig(mode="soft", max_tokens=6, end_marker="\u2603")
    fuzzy = ThinkingConfig(mode="fuzzy", max_tokens=6, end_marker="\u2603")
    sampled = SamplingParams(max_new_tokens=10, temperature=0.9, top_p=0.9, seed=7)
    schedule = {
        0: [("hard sampled", sampled), ("greedy neighbour", LONG)],
        2: [("soft thinker", SamplingParams(max_new_tokens=8, seed=3, thinking=soft))],
        4: [("fuzzy thinker", SamplingParams(max_new_tokens=8, seed=5, thinking=fuzzy))],
        6: [("sampled late", SamplingParams(max_new_tokens=8, temperature=1.0, seed=11))],
    }
    done, _ = run_with_joins(sampler, schedule)
    for joiners in schedule.values():
        for prompt, params in joiners:
            expected = alone(sampler, prompt, params)
            got = done[prompt, params]
            assert got.token_ids == expected.token_ids, prompt
            if params.thinking is not None:
                assert got.thinking.tokens == expected.thinking.tokens, prompt
                torch.testing.assert_close(
                    got.thinking.inputs, expected.thinking.inputs, atol=1e-4, rtol=1e-4
                )
            torch.testing.assert_close(
                got.step_log_probs, expected.step_log_probs, atol=1e-3, rtol=1e-4
            )


def test_slots_are_reused_and_the_cache_width_follows_the_live_rows(sampler) -> None:
    """One long row and 30 short requests joining one after another: the short ones reuse
    one slot, and the columns dropped behind finished rows keep the width at the long row's."""
    long = SamplingParams(max_new_tokens=200, temperature=0, ignore_eos=True)
    short = SamplingParams(max_new_tokens=4, temperature=0, ignore_eos=True)
    batch = RunningBatch(sampler, stream_text=False)
    batch.add([Joining([sampler.encode("the long one")], long)])
    widest = slots = 0
    for step in range(150):
        if step % 5 == 0:
            batch.add([Joining([sampler.encode(f"short request {step}")], short)])
        batch.decide()
        batch.forward()
        slots = max(slots, batch.slots)
        widest = max(widest, batch.span.end - batch.span.start)
    assert slots == 2
    assert batch.cache.layers[0].capacity()[0] <= 4  # slot buffers: 1, then doubled once
    assert widest == len(sampler.encode("the long one")) + 150


def test_requests_join_in_arrival_order(tiny) -> None:
    """With two rows a batch, a 2-row request waiting for the long one to leave is not
    overtaken by the 1-row request behind it, although that one would fit."""
    engine = InferenceEngine(tiny, EngineLimits(max_batch_rows=2))
    first = engine.submit(["first"], SamplingParams(max_new_tokens=300, ignore_eos=True))
    next(first.events())  # decoding
    pair = engine.submit(["pair"], SamplingParams(max_new_tokens=4, n=2, ignore_eos=True))
    behind = engine.submit(["behind"], SamplingParams(max_new_tokens=4, ignore_eos=True))
    assert len(behind.completions()) == 1
    assert engine.served >= 2  # `first` had left before `behind` could join
    assert len(pair.completions()) == 2
    assert len(first.completions()[0].token_ids) == 300
    engine.close()


def test_prompts_sharing_a_prefix_reuse_its_keys_and_decode_the_same(tiny, sampler) -> None:
    cached = Sampler(tiny.model, tiny.tokenizer)
    cached.prefix_cache = PrefixCache(max_tokens=400, block=16)
    system = "You are a careful assistant. Answer in one short sentence. " * 3
    questions = ["What is rain?", "What is snow?", "Why is the sky blue?"]
    schedule = {0: [(system + questions[0], LONG)], 2: [(system + questions[1], GREEDY)]}
    schedule[9] = [(system + questions[2], GREEDY), (system + questions[0], GREEDY)]
    # the same stored prefix, rests of different lengths: one left-padded pass
    schedule[12] = [(system + "Hi?", GREEDY), (system + "And what about the clouds?", GREEDY)]
    done, _ = run_with_joins(cached, schedule)
    shared = len(cached.encode(system)) // 16 * 16  # whole blocks of the shared system prompt
    assert cached.prefix_cache.hits >= 5 * shared  # every later prompt reused the prefix
    for joiners in schedule.values():
        for prompt, params in joiners:
            expected = alone(sampler, prompt, params)  # no prefix cache
            assert done[prompt, params].token_ids == expected.token_ids, prompt


def test_the_prefix_cache_keeps_its_position_bound(tiny) -> None:
    cached = Sampler(tiny.model, tiny.tokenizer)
    cached.prefix_cache = PrefixCache(max_tokens=100, block=8)
    prompts = [f"{i:02d}" * 4 + " words" * 10 for i in range(20)]  # no two share a block
    for prompt in prompts:
        cached.generate([prompt], GREEDY)  # in-process decoding stores prompts too
        assert cached.prefix_cache.tokens <= 100
    assert cached.prefix_cache.lookup(cached.encode(prompts[-1] + "more")) is not None
    assert cached.prefix_cache.lookup(cached.encode(prompts[0] + "more")) is None  # evicted
