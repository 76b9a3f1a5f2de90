"""The chain of thought's end rule: the whole end marker ends it, and hard mode scores it.

The markers are taken from the tiny model's own greedy or sampled thoughts, so that they do
(or, for the first test, half do) occur: a random-init model never writes a fixed string.
"""

from __future__ import annotations

import pytest
import torch

from reasonloop.sampling import SamplingParams, ThinkingConfig
from reasonloop.sampling.decoder import Sampler
from reasonloop.sampling.teacher_forcing import completion_log_probs
from reasonloop.sampling.thinking import EndMarker

PROMPT = "Hello there"
NEVER = "\u2603\u2603"  # a marker the tiny model does not produce in these budgets


@pytest.fixture(scope="module")
def sampler(tiny) -> Sampler:
    return Sampler(tiny.model, tiny.tokenizer)


def think(sampler: Sampler, marker: str, *, budget: int = 16, **sampling) -> object:
    mode = sampling.pop("mode", "hard")
    tau = sampling.pop("tau", 0)
    noise = sampling.pop("noise_scale", 0.33)
    thinking = ThinkingConfig(
        mode=mode, temperature=tau, noise_scale=noise, max_tokens=budget, end_marker=marker
    )
    params = SamplingParams(
        max_new_tokens=6, temperature=0, ignore_eos=True, thinking=thinking, **sampling
    )
    return sampler.generate([PROMPT], params)[0][0]


def spelled(sampler: Sampler, tokens: list[int], size: int, start: int = 1) -> tuple[int, str]:
    """The first window of `size` tokens (from `start`) whose text encodes back to it exactly
    (a byte-level tokenizer decodes half a character to U+FFFD): (its index, its text)."""
    tokenizer = sampler.tokenizer
    for i in range(start, len(tokens) - size + 1):
        text = tokenizer.decode(tokens[i : i + size])
        if tokenizer.encode(text, add_special_tokens=False) == tokens[i : i + size]:
            return i, text
    raise AssertionError(f"no window of {size} tokens in {tokens} encodes back to itself")


def test_end_marker_matches_the_whole_sequence_with_overlaps():
    marker = EndMarker.of([7, 7, 9])
    state, ends = 0, []
    for token in [7, 5, 7, 7, 7, 9, 7]:
        state = marker.advance(state, token)
        ends.append(state)
    # the first 7 alone never ends it; "7 7 7 9" ends with the whole "7 7 9"
    assert ends == [1, 0, 1, 2, 2, 3, 1]
    single = EndMarker.of([4])
    assert single.advance(0, 4) == 1 and single.advance(0, 3) == 0
    with pytest.raises(ValueError, match="at least one token"):
        EndMarker.of([])


def test_a_marker_first_token_mid_thought_does_not_end_it(sampler):
    greedy = think(sampler, NEVER).thinking.tokens
    index, first = spelled(sampler, greedy, 1, start=2)
    marker = first + NEVER  # begins with a token the thought produces at step `index`
    ids = sampler.tokenizer.encode(marker, add_special_tokens=False)
    assert ids[0] == greedy[index] and len(ids) > 1
    c = think(sampler, marker)
    # the old rule ended the thought at step `index`; the whole marker never comes
    assert c.thinking.ended_by == "budget"
    assert c.thinking.tokens == greedy
    assert len(c.thinking.tokens) == 16 > index


def test_a_greedy_thought_ends_right_after_the_whole_marker(sampler):
    plain = think(sampler, NEVER, budget=24)
    greedy = plain.thinking.tokens
    index, marker = spelled(sampler, greedy, 3)
    c = think(sampler, marker, budget=24)
    assert c.thinking.ended_by == "marker"
    assert c.thinking.tokens == greedy[: index + 3]
    assert c.thinking.forced_ids == []
    assert c.thinking.text == sampler.tokenizer.decode(greedy[:index])
    # nothing is forced: a greedy hard thought and its answer are plain greedy decoding
    assert c.token_ids == greedy[index + 3 : index + 9]
    soft = think(sampler, marker, budget=24, mode="soft", tau=1e-6, noise_scale=0)
    assert soft.thinking.ended_by == "marker"
    assert soft.thinking.tokens == c.thinking.tokens and soft.token_ids == c.token_ids


def test_a_budget_cut_inside_the_marker_feeds_only_its_rest(sampler, tiny):
    greedy = think(sampler, NEVER).thinking.tokens
    index, marker = spelled(sampler, greedy, 3, start=4)
    c = think(sampler, marker, budget=index + 1)  # stops after the marker's first token
    assert c.thinking.ended_by == "budget" and c.thinking.marker_steps == 1
    assert c.thinking.forced_ids == greedy[index + 1 : index + 3]
    assert c.thinking.text == sampler.tokenizer.decode(greedy[:index])
    assert c.token_ids == greedy[index + 3 : index + 9]  # still the greedy continuation
    recomputed = completion_log_probs(tiny.model, [c])[0]
    assert len(recomputed) == index + 1 + 6  # thought steps + answer, not the forced rest
    torch.testing.assert_close(recomputed, c.step_log_probs, atol=1e-4, rtol=0)


def test_hard_sampling_scores_the_decision_to_stop(sampler, tiny):
    """The marker's tokens are sampled steps of the thought: their log-probs are in the
    sampler's and teacher forcing's log-likelihood and get gradients."""
    sampled = dict(tau=1.0, seed=5)
    free = think(sampler, NEVER, budget=24, **sampled).thinking.tokens
    index, marker = spelled(sampler, free, 2, start=3)
    c = think(sampler, marker, budget=24, **sampled)  # same seed: same draws up to the marker
    assert c.thinking.ended_by == "marker"
    steps = len(c.thinking.tokens)
    assert c.thinking.tokens == free[:steps] and steps <= index + 2
    assert len(c.step_log_probs) == steps + len(c.token_ids)
    recomputed = completion_log_probs(tiny.model, [c])[0]
    torch.testing.assert_close(recomputed.detach(), c.step_log_probs, atol=1e-4, rtol=0)
    # the stop decision's log-probs are the model's own log-probs of the marker's tokens
    ids = sampler.encode(PROMPT) + c.thinking.tokens
    with torch.no_grad():
        logits = tiny.model(torch.tensor([ids])).logits[0].float()
    expected = torch.log_softmax(logits, dim=-1)[
        torch.arange(len(ids) - 3, len(ids) - 1), torch.tensor(ids[-2:])
    ]
    torch.testing.assert_close(
        recomputed[steps - 2 : steps].detach().float(), expected, atol=1e-4, rtol=0
    )
    tiny.model.zero_grad(set_to_none=True)
    recomputed[steps - 2 : steps].sum().backward()
    grads = [p.grad for p in tiny.model.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    tiny.model.zero_grad(set_to_none=True)


def test_streamed_thought_holds_back_the_marker(sampler):
    greedy = think(sampler, NEVER, budget=24).thinking.tokens
    index, marker = spelled(sampler, greedy, 3)
    thinking = ThinkingConfig(mode="hard", temperature=0, max_tokens=24, end_marker=marker)
    params = SamplingParams(max_new_tokens=6, temperature=0, ignore_eos=True, thinking=thinking)
    streamed, final = "", None
    for event in sampler.stream([PROMPT], params):
        streamed += event.thinking_delta
        if event.completion is not None:
            final = event.completion
    assert final is not None and final.thinking.ended_by == "marker"
    assert streamed == final.thinking.text == sampler.tokenizer.decode(greedy[:index])
