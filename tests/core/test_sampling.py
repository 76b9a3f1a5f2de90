"""The core sampler vs transformers: thinking, seeds, batching, constraints, log-probs."""

from __future__ import annotations

import json

import pytest
import torch

from reasonloop.sampling import Grammar, SamplingParams, ThinkingConfig
from reasonloop.sampling.decoder import Sampler
from reasonloop.sampling.logits import RowSettings, truncate
from reasonloop.sampling.teacher_forcing import completion_log_probs

PROMPTS = ["Hello there", "a", "The quick brown fox jumps over", "2 + 2 ="]
GREEDY = SamplingParams(max_new_tokens=24, temperature=0)


def hf_greedy(loaded, prompt: str, new_tokens: int) -> list[int]:
    ids = torch.tensor([loaded.tokenizer.encode(prompt)])
    out = loaded.model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=loaded.tokenizer.pad_token_id,
    )
    return out[0, ids.shape[1] :].tolist()


def until_eos(tokens: list[int], eos: frozenset[int]) -> list[int]:
    for i, t in enumerate(tokens):
        if t in eos:
            return tokens[: i + 1]
    return tokens


@pytest.fixture(scope="module")
def tiny_sampler(tiny) -> Sampler:
    return Sampler(tiny.model, tiny.tokenizer)


def test_greedy_equals_transformers_generate(tiny, tiny_sampler):
    batch = tiny_sampler.generate(PROMPTS, GREEDY)
    for prompt, (completion,) in zip(PROMPTS, batch, strict=True):
        expected = until_eos(hf_greedy(tiny, prompt, 24), tiny_sampler.eos_ids)
        assert completion.token_ids == expected


def test_hard_greedy_thinking_is_plain_greedy_decoding(tiny, tiny_sampler):
    thinking = ThinkingConfig(mode="hard", temperature=0, max_tokens=10, end_marker="\u2603")
    (c,) = tiny_sampler.generate(
        ["Hello there"],
        SamplingParams(max_new_tokens=8, temperature=0, ignore_eos=True, thinking=thinking),
    )[0]
    expected = hf_greedy(tiny, "Hello there", 10)
    assert c.thinking.ended_by == "budget" and c.thinking.tokens == expected


@pytest.mark.parametrize("mode", ["soft", "fuzzy"])
def test_soft_at_zero_temperature_without_noise_is_hard_greedy(tiny_sampler, mode):
    def run(thinking: ThinkingConfig):
        params = SamplingParams(max_new_tokens=8, temperature=0, ignore_eos=True, thinking=thinking)
        return tiny_sampler.generate(PROMPTS, params)

    soft = run(ThinkingConfig(mode=mode, temperature=1e-6, noise_scale=0, max_tokens=12))
    hard = run(ThinkingConfig(mode="hard", temperature=0, max_tokens=12))
    for (s,), (h,) in zip(soft, hard, strict=True):
        assert s.thinking.tokens == h.thinking.tokens
        assert s.token_ids == h.token_ids
        assert s.thinking.inputs is not None and s.thinking.sigma == 0


def test_alone_and_in_a_padded_batch_give_the_same_tokens(tiny_sampler):
    batch = tiny_sampler.generate(PROMPTS, GREEDY)
    for prompt, (in_batch,) in zip(PROMPTS, batch, strict=True):
        (alone,) = tiny_sampler.generate([prompt], GREEDY)[0]
        assert alone.token_ids == in_batch.token_ids


@pytest.mark.parametrize("mode", [None, "hard", "soft", "fuzzy"])
def test_same_seed_same_output_other_seed_other_output(tiny_sampler, mode):
    thinking = None if mode is None else ThinkingConfig(mode=mode, max_tokens=8)

    def run(seed: int):
        params = SamplingParams(
            max_new_tokens=16, temperature=1.0, seed=seed, n=3, thinking=thinking
        )
        return [c.token_ids for group in tiny_sampler.generate(PROMPTS, params) for c in group]

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    assert len({tuple(t) for t in first}) > len(PROMPTS)  # the n samples differ


def test_a_seeded_request_is_unaffected_by_its_batch_neighbours(tiny_sampler):
    seeded = SamplingParams(max_new_tokens=16, temperature=1.0, seed=11)
    (alone,) = tiny_sampler.generate(["a"], seeded)[0]
    mixed = tiny_sampler.generate(["Hello there", "a"], [SamplingParams(max_new_tokens=5), seeded])
    assert mixed[1][0].token_ids == alone.token_ids


@pytest.mark.parametrize("mode", ["hard", "soft", "fuzzy"])
def test_teacher_forced_log_probs_match_the_sampler(tiny, tiny_sampler, mode):
    params = SamplingParams(
        max_new_tokens=12,
        temperature=0.8,
        seed=3,
        n=2,
        thinking=ThinkingConfig(mode=mode, max_tokens=10),
    )
    completions = [c for group in tiny_sampler.generate(PROMPTS, params) for c in group]
    recomputed = completion_log_probs(tiny.model, completions)
    for c, lp in zip(completions, recomputed, strict=True):
        assert lp.shape == c.step_log_probs.shape
        torch.testing.assert_close(lp, c.step_log_probs, atol=1e-4, rtol=0)


def test_teacher_forced_log_probs_carry_gradients(tiny, tiny_sampler):
    params = SamplingParams(
        max_new_tokens=4,
        temperature=1.0,
        seed=0,
        thinking=ThinkingConfig(mode="soft", max_tokens=4),
    )
    completions = [g[0] for g in tiny_sampler.generate(PROMPTS[:2], params)]
    loss = -torch.stack([lp.sum() for lp in completion_log_probs(tiny.model, completions)]).sum()
    loss.backward()
    grad = tiny.model.get_input_embeddings().weight.grad
    assert grad is not None and grad.abs().sum() > 0
    tiny.model.zero_grad(set_to_none=True)


def test_thinking_budget_and_marker(tiny_sampler):
    zero = SamplingParams(max_new_tokens=3, thinking=ThinkingConfig(mode="soft", max_tokens=0))
    (c,) = tiny_sampler.generate(["x"], zero)[0]
    assert c.thinking.tokens == [] and c.thinking.ended_by == "budget"
    assert c.thinking.marker_ids == tiny_sampler.tokenizer.encode("</think>")


def test_stop_strings_truncate_and_stream_without_leaking(tiny_sampler):
    (full,) = tiny_sampler.generate(["Hello there"], GREEDY)[0]
    stop = full.text[5:8]
    expected = full.text[: full.text.find(stop)]
    params = SamplingParams(max_new_tokens=24, temperature=0, stop=(stop,))
    (c,) = tiny_sampler.generate(["Hello there"], params)[0]
    assert c.finish_reason == "stop" and c.text == expected
    assert len(c.token_ids) < len(full.token_ids)
    streamed = "".join(e.text_delta for e in tiny_sampler.stream(["Hello there"], params))
    assert streamed == c.text
    kept = SamplingParams(max_new_tokens=24, temperature=0, stop=(stop,), include_stop=True)
    (with_stop,) = tiny_sampler.generate(["Hello there"], kept)[0]
    assert with_stop.text == expected + stop
    assert with_stop.token_ids == c.token_ids


def test_streaming_deltas_add_up_to_the_final_text(tiny_sampler):
    params = SamplingParams(
        max_new_tokens=20,
        temperature=1.0,
        seed=5,
        n=2,
        thinking=ThinkingConfig(mode="fuzzy", max_tokens=6),
    )
    final = {}
    text: dict[tuple[int, int], str] = {}
    thought: dict[tuple[int, int], str] = {}
    for e in tiny_sampler.stream(PROMPTS[:2], params):
        key = (e.prompt_index, e.sample_index)
        text[key] = text.get(key, "") + e.text_delta
        thought[key] = thought.get(key, "") + e.thinking_delta
        if e.completion is not None:
            final[key] = e.completion
    assert len(final) == 4
    for key, c in final.items():
        assert text[key] == c.text
        assert thought[key] == c.thinking.text


def test_truncation_keeps_exactly_the_nucleus():
    log_probs = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]] * 3))
    settings = RowSettings.of(
        [SamplingParams(top_p=0.7), SamplingParams(top_k=3), SamplingParams(min_p=0.35)], "cpu"
    )
    kept = truncate(log_probs, settings).isfinite().tolist()
    assert kept == [
        [True, True, False, False],  # 0.5 + 0.3 reaches 0.7
        [True, True, True, False],
        [True, True, False, False],  # >= 0.35 * 0.5
    ]


def test_top_k_one_is_greedy(tiny_sampler):
    greedy = tiny_sampler.generate(PROMPTS, GREEDY)
    top1 = tiny_sampler.generate(PROMPTS, SamplingParams(max_new_tokens=24, top_k=1, seed=1))
    assert [g[0].token_ids for g in greedy] == [t[0].token_ids for t in top1]


def test_log_probs_and_eos(tiny_sampler):
    params = SamplingParams(
        max_new_tokens=30, temperature=1.0, seed=2, logprobs=True, ignore_eos=True
    )
    (c,) = tiny_sampler.generate(["a"], params)[0]
    assert len(c.token_logprobs) == len(c.token_ids) == 30
    assert all(lp <= 0 for lp in c.token_logprobs)
    assert c.token_logprobs == c.step_log_probs.tolist()
    assert c.finish_reason == "length"
    unasked = tiny_sampler.generate(["a"], SamplingParams(max_new_tokens=3))[0][0]
    assert unasked.token_logprobs is None and len(unasked.step_log_probs) == 3


def test_json_schema_constrained_answer_is_valid(tiny_sampler):
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "integer", "minimum": 0, "maximum": 999},
            "ok": {"type": "boolean"},
        },
        "required": ["answer", "ok"],
        "additionalProperties": False,
    }
    params = SamplingParams(
        max_new_tokens=60,
        temperature=1.0,
        seed=0,
        n=3,
        grammar=Grammar("json_schema", json.dumps(schema)),
    )
    for c in tiny_sampler.generate(["Reply in JSON:"], params)[0]:
        assert c.finish_reason == "stop", c.text
        value = json.loads(c.text)
        assert isinstance(value["answer"], int) and isinstance(value["ok"], bool)


def test_regex_and_ebnf_constraints(tiny_sampler):
    regex = SamplingParams(max_new_tokens=10, seed=1, grammar=Grammar("regex", "[0-9]{3}-[ab]"))
    (c,) = tiny_sampler.generate(["code:"], regex)[0]
    assert len(c.text) == 5 and c.text[:3].isdigit() and c.text[3] == "-" and c.text[4] in "ab"
    ebnf = SamplingParams(
        max_new_tokens=10, seed=1, grammar=Grammar("ebnf", 'root ::= "yes" | "no"')
    )
    (c,) = tiny_sampler.generate(["ok?"], ebnf)[0]
    assert c.text in ("yes", "no")


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: SamplingParams(max_new_tokens=0), "max_new_tokens"),
        (lambda: SamplingParams(temperature=-1), "temperature"),
        (lambda: SamplingParams(top_p=0), "top_p"),
        (lambda: SamplingParams(n=0), "n"),
        (lambda: ThinkingConfig(mode="psychic"), "thinking.mode"),
        (lambda: ThinkingConfig(noise_scale=-1), "thinking.noise_scale"),
        (lambda: Grammar("xml", "x"), "grammar.kind"),
    ],
)
def test_bad_parameters_name_the_field(make, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()


def test_bad_prompts_and_grammars_are_value_errors(tiny_sampler):
    with pytest.raises(ValueError, match="prompt 0 is empty"):
        tiny_sampler.generate([""], GREEDY)
    with pytest.raises(ValueError, match="context length"):
        tiny_sampler.generate(["x" * 5000], GREEDY)
    bad = SamplingParams(grammar=Grammar("json_schema", "{not json"))
    with pytest.raises(ValueError, match="invalid json_schema"):
        tiny_sampler.generate(["x"], bad)


def test_chat_messages_use_the_chat_template(tiny_sampler):
    messages = [{"role": "user", "content": "hi"}]
    assert tiny_sampler.encode(messages) == tiny_sampler.tokenizer.encode(
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.slow
def test_smollm2_greedy_batch_and_log_probs(smollm2):
    sampler = Sampler(smollm2.model, smollm2.tokenizer)
    prompts = [[{"role": "user", "content": "What is 2+3?"}], "The capital of France is"]
    batch = sampler.generate(prompts, SamplingParams(max_new_tokens=16, temperature=0))
    for prompt, (c,) in zip(prompts, batch, strict=True):
        text = smollm2.tokenizer.decode(sampler.encode(prompt))
        expected = until_eos(hf_greedy(smollm2, text, 16), sampler.eos_ids)
        assert c.token_ids == expected
        assert (
            sampler.generate([prompt], SamplingParams(max_new_tokens=16, temperature=0))[0][
                0
            ].token_ids
            == c.token_ids
        )
    assert "Paris" in batch[1][0].text
    for mode in ("hard", "soft", "fuzzy"):
        params = SamplingParams(
            max_new_tokens=8,
            temperature=0.7,
            seed=1,
            thinking=ThinkingConfig(mode=mode, max_tokens=8),
        )
        completions = [g[0] for g in sampler.generate(prompts, params)]
        for c, lp in zip(
            completions, completion_log_probs(smollm2.model, completions), strict=True
        ):
            cot = len(c.thinking.tokens)
            # Token steps agree to 1e-4. A soft step's Gaussian log-density is ~1e3 in
            # 576 dims and moves by (x - mean) / sigma^2 per unit of float32 forward noise
            # (cached decode vs one full pass), so it is compared relatively.
            soft_rtol = 0 if mode == "hard" else 1e-5
            torch.testing.assert_close(lp[:cot], c.step_log_probs[:cot], atol=1e-4, rtol=soft_rtol)
            torch.testing.assert_close(lp[cot:], c.step_log_probs[cot:], atol=1e-4, rtol=0)
    soft = ThinkingConfig(mode="soft", temperature=1e-6, noise_scale=0, max_tokens=8)
    hard = ThinkingConfig(mode="hard", temperature=0, max_tokens=8)
    a, b = (
        sampler.generate(prompts, SamplingParams(max_new_tokens=8, temperature=0, thinking=t))
        for t in (soft, hard)
    )
    assert [g[0].token_ids for g in a] == [g[0].token_ids for g in b]


def test_a_lora_policy_samples_and_gets_gradients_on_its_adapters():
    from reasonloop.models.loading import load_model
    from reasonloop.models.lora import attach_lora

    loaded = load_model("tiny-llama", seed=2)
    policy = attach_lora(loaded.model, rank=4)
    sampler = Sampler(policy, loaded.tokenizer)
    params = SamplingParams(
        max_new_tokens=6,
        temperature=1.0,
        seed=0,
        n=2,
        thinking=ThinkingConfig(mode="soft", max_tokens=5),
    )
    completions = [c for group in sampler.generate(PROMPTS[:2], params) for c in group]
    recomputed = completion_log_probs(policy, completions)
    for c, lp in zip(completions, recomputed, strict=True):
        torch.testing.assert_close(lp.detach(), c.step_log_probs, atol=1e-4, rtol=0)
    torch.stack([lp.sum() for lp in recomputed]).sum().backward()
    grads = [p.grad for n, p in policy.named_parameters() if "lora_" in n]
    assert grads and all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
