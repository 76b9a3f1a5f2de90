"""Recompute a completion's log-probability in one teacher-forced forward pass.

This is what an RL trainer differentiates: the sequence prompt + CoT + end marker + answer
is fed exactly as the sampler fed it (tokens, or the stored soft inputs), and each scored
step gets its log-probability under the current parameters -- the token log-prob for
discrete steps, log N(x_t; softmax(z_t / tau) @ E, sigma^2 I) for soft/fuzzy steps. The
steps are in the order of `Completion.step_log_probs`, so the two can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel

from reasonloop.sampling.decoder import Completion
from reasonloop.sampling.thinking import embedding_matrix, gaussian_log_density, mixture_mean


def completion_log_probs(
    model: PreTrainedModel, completions: Sequence[Completion]
) -> list[torch.Tensor]:
    """Per-step log-probabilities of each completion (with grad, if grad is enabled)."""
    if not completions:
        return []
    device = model.device
    embeddings = embedding_matrix(model)
    embed = model.get_input_embeddings()
    sequences = [_fed_ids(c) for c in completions]
    width = max(len(ids) for ids in sequences)
    # Right padding keeps every scored position where the sampler had it; the padding id
    # itself is never attended to.
    ids = torch.zeros((len(completions), width), dtype=torch.long, device=device)
    attention = torch.zeros((len(completions), width), dtype=torch.long, device=device)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(seq, device=device)
        attention[i, : len(seq)] = 1
    inputs = embed(ids)
    for i, c in enumerate(completions):
        if c.thinking is not None and c.thinking.inputs is not None:
            start = len(c.prompt_ids)
            soft = c.thinking.inputs.to(device=device, dtype=inputs.dtype)
            inputs[i, start : start + len(soft)] = soft
    logits = model(inputs_embeds=inputs, attention_mask=attention).logits

    results = []
    for i, c in enumerate(completions):
        steps: list[torch.Tensor] = []
        start = len(c.prompt_ids)
        trace = c.thinking
        if trace is not None and trace.tokens:
            cot = torch.arange(start, start + len(trace.tokens), device=device)
            z = logits[i, cot - 1]
            if trace.mode == "hard":
                tau = trace.tau if trace.tau > 0 else 1.0
                tokens = torch.tensor(trace.tokens, device=device)
                lp = torch.log_softmax(z.float() / tau, dim=-1)
                steps.append(lp.gather(1, tokens[:, None])[:, 0].double())
            else:
                mean = mixture_mean(z, trace.tau, embeddings)
                assert trace.inputs is not None
                x = trace.inputs.to(device)
                steps.append(gaussian_log_density(x, mean, trace.sigma))
            start += len(trace.tokens) + len(trace.marker_ids)
        if c.token_ids:
            answer = torch.arange(start, start + len(c.token_ids), device=device)
            lp = torch.log_softmax(logits[i, answer - 1].float() / c.answer_temperature, dim=-1)
            tokens = torch.tensor(c.token_ids, device=device)
            steps.append(lp.gather(1, tokens[:, None])[:, 0].double())
        results.append(
            torch.cat(steps) if steps else torch.zeros(0, device=device, dtype=torch.float64)
        )
    return results


def _fed_ids(c: Completion) -> list[int]:
    """The token ids of the whole sequence; soft steps get a placeholder (replaced)."""
    cot: list[int] = []
    if c.thinking is not None:
        cot = list(c.thinking.tokens) + list(c.thinking.marker_ids)
    return list(c.prompt_ids) + cot + list(c.token_ids)
