"""The chain of thought: soft/fuzzy inputs, their Gaussian log-density, and the end rule.

At a soft or fuzzy CoT step with next-token logits z, the model is fed
    x = softmax(z / tau) @ E + sigma * eps,   eps ~ N(0, I),
instead of a token embedding. For RL the policy's log-probability of that step is
log N(x; softmax(z / tau) @ E, sigma^2 I), differentiable through z (and E).

The end rule. Each CoT step has a chosen token: the sampled token at a hard step, the most
probable one (argmax of z) at a soft or fuzzy step. The thought ends once the chosen tokens of
its last k steps are the k tokens of the end marker (`EndMarker`), or when its budget
(`max_tokens` steps) is spent. The marker's steps are ordinary steps of the thought, fed like
every other step (the token, or the noisy mixture) and scored like it (token log-prob, or
Gaussian log-density): the decision to stop thinking is part of the policy the trainer
reinforces. The answer follows directly. A thought cut by its budget is followed by the
marker's missing tokens (the whole marker, or the rest of one it had begun), fed as tokens and
not scored: the budget, not the policy, ended it.

Why this rule rather than ending at the marker's first token (which cut natural reasoning at
its first " The" when the marker is " The answer is") or switching to feeding the marker once
its first token appears: every step is decided when it is taken, so the sampler needs no
look-ahead or rollback and teacher forcing replays one sequence; no step of a soft thought is
fed hard just because it might begin the marker (that would take the exploration noise out of
every such step); and a greedy hard thought followed by its answer is exactly plain greedy
decoding. A single dedicated token (`</think>`) is the case k = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from reasonloop.extras import requires

with requires("models"):
    import torch
    from transformers import PreTrainedModel


def embedding_matrix(model: PreTrainedModel) -> torch.Tensor:
    """The matrix E whose rows are exactly what the model is fed for each token id.

    Some architectures (Gemma) scale the looked-up rows; the scale is folded in here so
    that a one-hot mixture reproduces the token's input embedding.
    """
    embeddings = model.get_input_embeddings()
    scale = getattr(embeddings, "embed_scale", None)
    weight = cast(torch.Tensor, embeddings.weight)
    return weight if scale is None else weight * scale


def noise_std(embeddings: torch.Tensor, noise_scale: float) -> float:
    """Absolute sigma: `noise_scale` times the RMS of the embedding rows' RMS norms
    (= the RMS of all entries), so one setting fits models of any width."""
    return noise_scale * embeddings.detach().float().pow(2).mean().sqrt().item()


def mixture_mean(
    logits: torch.Tensor, tau: float | torch.Tensor, embeddings: torch.Tensor
) -> torch.Tensor:
    """softmax(z / tau) @ E, the mean of the soft input (`tau` may be a per-row column)."""
    probs = torch.softmax(logits.float() / tau, dim=-1)
    return (probs.to(embeddings.dtype) @ embeddings).float()


def gaussian_log_density(
    x: torch.Tensor, mean: torch.Tensor, sigma: float | torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, sigma^2 I) summed over the last dim, in float64 (the value is in the
    hundreds or thousands, where float32 keeps only ~1e-4 of it); 0 where sigma == 0 (no
    noise: the step is deterministic given the logits). `sigma`: one number, or a float64
    tensor of one per row (shape x.shape[:-1])."""
    if not isinstance(sigma, torch.Tensor) and sigma == 0:
        return torch.zeros(x.shape[:-1], device=x.device, dtype=torch.float64)
    dim = x.shape[-1]
    sq = (x.double() - mean.double()).pow(2).sum(dim=-1)
    if not isinstance(sigma, torch.Tensor):
        return -0.5 * sq / sigma**2 - 0.5 * dim * math.log(2 * math.pi * sigma**2)
    density = -0.5 * sq / sigma**2 - 0.5 * dim * torch.log(2 * math.pi * sigma**2)
    return torch.where(sigma > 0, density, torch.zeros_like(density))


@dataclass(frozen=True)
class EndMarker:
    """The end marker's token ids, matched against a thought one chosen token at a time.

    The match state is how many of the marker's tokens the thought currently ends with; the
    Knuth-Morris-Pratt fallback table keeps `advance` amortized O(1) per step whatever the
    marker's length or self-overlap (" a a b" in a thought " a a a b" still matches).
    """

    ids: tuple[int, ...]
    fallback: tuple[int, ...]  # fallback[j]: longest proper border of ids[: j + 1]

    @classmethod
    def of(cls, ids: Sequence[int]) -> EndMarker:
        if not ids:
            raise ValueError("an end marker needs at least one token")
        ids = tuple(ids)
        fallback = [0] * len(ids)
        border = 0
        for j in range(1, len(ids)):
            while border and ids[j] != ids[border]:
                border = fallback[border - 1]
            if ids[j] == ids[border]:
                border += 1
            fallback[j] = border
        return cls(ids, tuple(fallback))

    def advance(self, matched: int, token: int) -> int:
        """The match state after `token`, from `matched` before it; the thought has produced
        the whole marker when the result is len(ids)."""
        if matched == len(self.ids):
            matched = self.fallback[-1]
        while matched and token != self.ids[matched]:
            matched = self.fallback[matched - 1]
        return matched + 1 if token == self.ids[matched] else 0
