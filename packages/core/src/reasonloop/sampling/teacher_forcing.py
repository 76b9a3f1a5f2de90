"""Recompute a completion's log-probability in one teacher-forced forward pass.

This is what an RL trainer differentiates: the sequence prompt + CoT + answer (with, after a
CoT cut by its budget, the marker's missing tokens) is fed exactly as the sampler fed it
(tokens, or the stored soft inputs), and each scored step gets its log-probability under the
current parameters -- the token log-prob for discrete steps, log N(x_t; softmax(z_t / tau) @ E,
sigma^2 I) for soft/fuzzy steps. Every CoT step is scored, the end marker's included (the
decision to stop thinking); forced marker tokens are not. The steps are in the order of
`Completion.step_log_probs`, so the two can be compared.

As in the sampler, each distinct prompt runs once and its KV cache is copied to its samples,
so an RL group of G samples pays for its prompt once, not G times (the prompt is most of the
sequence, and gradients flow back through the shared cache).
"""

from __future__ import annotations

from collections.abc import Sequence

from reasonloop.extras import requires

with requires("models"):
    import torch
    from transformers import PreTrainedModel

from reasonloop.sampling.decoder import Completion, prefill_prompts
from reasonloop.sampling.thinking import embedding_matrix, gaussian_log_density, mixture_mean


def completion_log_probs(
    model: PreTrainedModel, completions: Sequence[Completion]
) -> list[torch.Tensor]:
    """Per-step log-probabilities of each completion (with grad, if grad is enabled)."""
    if not completions:
        return []
    # z[i, t]: the logits that chose step t of completion i (the last prompt position's for t=0)
    z = _continuation_logits(model, completions)
    device = z.device
    embeddings = embedding_matrix(model)
    results = []
    for i, c in enumerate(completions):
        steps: list[torch.Tensor] = []
        start = 0
        trace = c.thinking
        if trace is not None and trace.tokens:
            cot = z[i, : len(trace.tokens)]
            if trace.mode == "hard":
                tau = trace.tau if trace.tau > 0 else 1.0
                tokens = torch.tensor(trace.tokens, device=device)
                lp = torch.log_softmax(cot.float() / tau, dim=-1)
                steps.append(lp.gather(1, tokens[:, None])[:, 0].double())
            else:
                mean = mixture_mean(cot, trace.tau, embeddings)
                assert trace.inputs is not None
                steps.append(gaussian_log_density(trace.inputs.to(device), mean, trace.sigma))
            start = len(trace.tokens) + len(trace.forced_ids)
        if c.token_ids:
            answer = z[i, start : start + len(c.token_ids)]
            lp = torch.log_softmax(answer.float() / c.answer_temperature, dim=-1)
            tokens = torch.tensor(c.token_ids, device=device)
            steps.append(lp.gather(1, tokens[:, None])[:, 0].double())
        results.append(
            torch.cat(steps) if steps else torch.zeros(0, device=device, dtype=torch.float64)
        )
    return results


def top_log_probs(
    model: PreTrainedModel, completions: Sequence[Completion], k: int
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For completions without a chain of thought: per answer token, its log-prob at the
    answer temperature and the `k` most likely tokens' (log-probs, ids) at that step, as
    [tokens], [tokens, k], [tokens, k] (what an OpenAI `echo` answer shows of a prompt)."""
    z = _continuation_logits(model, completions)
    results = []
    for i, c in enumerate(completions):
        lp = torch.log_softmax(z[i, : len(c.token_ids)].float() / c.answer_temperature, dim=-1)
        tokens = torch.tensor(c.token_ids, device=z.device)
        best = lp.topk(min(k, lp.shape[-1]), dim=-1)
        results.append((lp.gather(1, tokens[:, None])[:, 0].double(), best.values, best.indices))
    return results


def _continuation_logits(model: PreTrainedModel, completions: Sequence[Completion]) -> torch.Tensor:
    """[completions, longest continuation, vocab]: the logits before each continuation step.

    The distinct prompts are prefilled once by the sampler's own `prefill_prompts`; their cache
    is copied to every completion, whose continuation (CoT inputs, marker, answer) is then fed
    right-padded after it. Padding is never attended to, so its id does not matter.
    """
    device = model.device
    prompts: dict[tuple[int, ...], int] = {}
    rows = [prompts.setdefault(tuple(c.prompt_ids), len(prompts)) for c in completions]
    expand = torch.tensor(rows, device=device)
    first, cache, prompt_mask = prefill_prompts(model, list(prompts), expand, pad_id=0)
    first = first[:, None, :]
    continuations = [_continuation_ids(c) for c in completions]
    length = max(len(ids) for ids in continuations)
    if length <= 1:  # nothing after the first step: the prompt's logits are all there is
        return first
    ids = torch.zeros((len(completions), length - 1), dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for i, seq in enumerate(continuations):
        fed = seq[: length - 1]  # the last step's token is scored, never fed
        ids[i, : len(fed)] = torch.tensor(fed, device=device, dtype=torch.long)
        mask[i, : len(fed)] = 1
    inputs = model.get_input_embeddings()(ids)
    for i, c in enumerate(completions):
        if c.thinking is not None and c.thinking.inputs is not None:
            soft = c.thinking.inputs.to(device=device, dtype=inputs.dtype)[: length - 1]
            inputs[i, : len(soft)] = soft
    positions = torch.tensor([len(c.prompt_ids) for c in completions], device=device)
    rest = model(
        inputs_embeds=inputs,
        attention_mask=torch.cat([prompt_mask, mask], dim=1),
        position_ids=positions[:, None] + torch.arange(length - 1, device=device),
        cache=cache,
        use_cache=True,
    )
    return torch.cat([first, rest.logits], dim=1)


def _continuation_ids(c: Completion) -> list[int]:
    """The ids fed after the prompt; soft steps get a placeholder (replaced by their inputs)."""
    cot: list[int] = []
    if c.thinking is not None:
        cot = list(c.thinking.tokens) + c.thinking.forced_ids
    return cot + list(c.token_ids)
