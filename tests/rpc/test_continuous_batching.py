"""Continuous batching: requests join the running batch between two steps and leave it the
step they finish, and nothing a request gets depends on when it joined or who its neighbours
were. The joins are driven step by step through `RunningBatch` (no timing involved), then
through the engine."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from reasonloop.cli import app
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
    while step <= max(schedule) or batch.busy:
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
        if batch.busy:
            batch.forward()
        step += 1
    return done, batch


def decode_to_the_end(batch: RunningBatch) -> dict[object, Completion]:
    """Step `batch` until it is idle; each owner's last completion."""
    done: dict[object, Completion] = {}
    while batch.busy:
        events, _ = batch.decide()
        done.update((owner, event.completion) for owner, event in events)
        if batch.busy:
            batch.forward()
    return done


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
    # the first pass computes the long row's prompt, each of the 149 others adds a column
    assert widest == len(sampler.encode("the long one")) + 149


def test_a_join_rides_in_the_running_rows_pass(sampler) -> None:
    """Rows joining a running batch cost it no pass of their own: the step they join in is
    one forward of the model (the running rows' tokens and the joiners' prompts packed), and
    every row still decodes what it decodes alone."""
    calls = []
    hook = sampler.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        batch = RunningBatch(sampler, stream_text=False)
        batch.add([Joining([sampler.encode(f"running {i}")], LONG, owner=i) for i in range(3)])
        batch.forward()
        batch.decide()
        joiners = ["a joiner with a longer prompt", "another"]
        calls.clear()
        batch.add([Joining([sampler.encode(p)], GREEDY, owner=p) for p in joiners])
        batch.forward()
        assert len(calls) == 1  # one pass: 3 running rows' tokens + two prompts
        assert batch.rows_live == 5
        done = decode_to_the_end(batch)
    finally:
        hook.remove()
    for prompt in joiners:
        assert done[prompt].token_ids == alone(sampler, prompt, GREEDY).token_ids
    for i in range(3):
        assert done[i].token_ids == alone(sampler, f"running {i}", LONG).token_ids


def test_eager_attention_models_take_packed_passes_too(tiny) -> None:
    """The packed pass wraps whichever attention a model uses (here transformers' eager)."""
    from reasonloop.models.loading import load_model

    eager = load_model("tiny-llama", device="cpu")
    eager.model.config._attn_implementation = "eager"
    sampler = Sampler(eager.model, eager.tokenizer)
    schedule = {0: [("hi", LONG)], 2: [("a joiner", GREEDY), ("and another", GREEDY)]}
    done, _ = run_with_joins(sampler, schedule)
    for joiners in schedule.values():
        for prompt, params in joiners:
            assert done[prompt, params].token_ids == alone(sampler, prompt, params).token_ids
            expected = Sampler(tiny.model, tiny.tokenizer).generate([prompt], params)[0][0]
            assert done[prompt, params].token_ids == expected.token_ids  # sdpa's


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


def test_a_long_prompt_is_prefilled_in_chunks_while_the_running_rows_decode(sampler) -> None:
    """With 16 positions prefilled a step, a 100-token prompt takes ceil(100 / 16) steps to
    join (a chunk per `forward`); the running row gets one token every one of them, and the
    joiner then decodes what it decodes alone (prefilled in one pass)."""
    batch = RunningBatch(sampler, stream_text=False, max_prefill_tokens=16)
    batch.add([Joining([sampler.encode("the running one")], LONG, owner="running")])
    batch.decide()
    batch.forward()
    running = next(row for row in batch.rows if row is not None)
    long_prompt = sampler.encode("count: " + " ".join(str(i) for i in range(60)))[:100]
    assert len(long_prompt) == 100
    batch.add([Joining([long_prompt], GREEDY, owner="long")])
    steps = 0
    while batch.prefilling is not None:
        before = len(running.answer_ids)
        assert batch.rows_live == 1  # the joiner is not decoding yet
        batch.decide()
        assert len(running.answer_ids) == before + 1  # the running row stepped
        batch.forward()
        steps += 1
    assert steps == 7  # ceil(100 / 16) chunks, one per step
    # this step's last chunk was 4 positions: a 13-token prompt no longer fits the step's 16
    short_prompt = long_prompt[:13]
    batch.add([Joining([short_prompt], GREEDY, owner="short")])
    assert batch.prefilling is not None  # deferred to the next step's `forward`
    done = decode_to_the_end(batch)
    assert done["long"].token_ids == sampler.generate([long_prompt], GREEDY)[0][0].token_ids
    assert done["short"].token_ids == sampler.generate([short_prompt], GREEDY)[0][0].token_ids
    assert done["running"].token_ids == sampler.generate(["the running one"], LONG)[0][0].token_ids


def test_chunked_prompts_continue_a_cached_prefix_and_sample_independently(tiny, sampler) -> None:
    """Two prompts (n=2 seeded samples each) sharing a cached system prompt, joining in
    chunks of 8 positions: every sample equals its decoding alone, without cache or chunks."""
    cached = Sampler(tiny.model, tiny.tokenizer)
    cached.prefix_cache = PrefixCache(max_tokens=1000, block=16)
    system = "You are a careful assistant. Answer in one short sentence. " * 3
    cached.generate([system + "warm the cache"], GREEDY)
    prompts = [system + "What is rain, and why does it fall?", system + "Why is the sky blue?"]
    params = SamplingParams(max_new_tokens=8, temperature=0.8, n=2, seed=5)
    batch = RunningBatch(cached, stream_text=False, max_prefill_tokens=8)
    batch.add([Joining([cached.encode(p) for p in prompts], params, owner="pair")])
    hits = cached.prefix_cache.hits
    assert hits >= 2 * 48  # both continue the stored system prompt's whole blocks
    assert batch.prefilling is not None  # more than 8 positions to compute: chunked
    done: list[Completion] = []
    while batch.busy:
        events, _ = batch.decide()
        done += [event.completion for _, event in events]
        if batch.busy:
            batch.forward()
    expected = sampler.generate(prompts, params)
    got = sorted(done, key=lambda c: (c.prompt_index, c.sample_index))
    assert [c.token_ids for c in got] == [c.token_ids for group in expected for c in group]


def test_a_cancelled_prefill_is_dropped_at_the_next_step(sampler) -> None:
    batch = RunningBatch(sampler, stream_text=False, max_prefill_tokens=8)
    gone = False
    joining = Joining([sampler.encode("x " * 40)], GREEDY, owner="long", cancelled=lambda _: gone)
    batch.add([joining])
    assert batch.prefilling is not None and not batch.joinable
    assert batch.decide() == ([], [])
    batch.forward()  # one more chunk
    gone = True
    assert batch.decide() == ([], ["long"])
    assert batch.prefilling is None and not batch.busy and batch.joinable


def test_the_engine_chunks_long_prompts(tiny, sampler) -> None:
    """A long prompt joining a running request is prefilled 8 positions a step; both get
    what they get alone."""
    engine = InferenceEngine(tiny, EngineLimits(max_prefill_tokens=8))
    try:
        params = SamplingParams(max_new_tokens=40, temperature=0, ignore_eos=True)
        running = engine.submit(["running"], params)
        next(running.events())  # decoding
        long_prompt = "a longer prompt, prefilled eight positions a step " * 3
        joined = engine.submit([long_prompt], GREEDY)
        [completion] = joined.completions()
        assert completion.token_ids == alone(sampler, long_prompt, GREEDY).token_ids
        assert running.completions()[0].token_ids == alone(sampler, "running", params).token_ids
    finally:
        engine.close()


def test_prefix_lookup_checks_every_block_it_matches() -> None:
    """Chained block hashes: a prompt sharing the first two blocks of a stored one, not the
    third, finds 2 blocks; one differing in its first block finds none."""
    cache = PrefixCache(max_tokens=1000, block=4)
    stored = list(range(100, 113))  # three whole blocks and one token
    layers = [(torch.randn(2, len(stored), 3), torch.randn(2, len(stored), 3))]
    cache.store(stored, layers)
    length, [(keys, _)] = cache.lookup([*stored[:8], 7, 7, 7, 7, 7])
    assert length == 8
    torch.testing.assert_close(keys, layers[0][0][:, :8])
    assert cache.lookup([*stored[:12], 5])[0] == 12
    assert cache.lookup([99, *stored[1:]]) is None


@pytest.mark.parametrize("flag", ["--max-prefill-tokens", "--prefix-cache-tokens"])
def test_serve_takes_the_prefill_flags_and_refuses_bad_values(flag: str) -> None:
    runner = CliRunner()
    assert flag in runner.invoke(app, ["serve", "--help"], terminal_width=200).output
    result = runner.invoke(app, ["serve", "--model", "tiny-llama", flag, "0"])
    assert result.exit_code == 2
    field = flag.removeprefix("--").replace("-", "_")
    assert result.output.strip().splitlines() == [f"error: {field} must be > 0, got 0"]
