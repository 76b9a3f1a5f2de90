"""The continuous chain of thought: soft/fuzzy inputs and their Gaussian log-density.

At a soft or fuzzy CoT step with next-token logits z, the model is fed
    x = softmax(z / tau) @ E + sigma * eps,   eps ~ N(0, I),
instead of a token embedding. For RL the policy's log-probability of that step is
log N(x; softmax(z / tau) @ E, sigma^2 I), differentiable through z (and E).
"""

from __future__ import annotations

import math

import torch
from transformers import PreTrainedModel


def embedding_matrix(model: PreTrainedModel) -> torch.Tensor:
    """The matrix E whose rows are exactly what the model is fed for each token id.

    Some architectures (Gemma) scale the looked-up rows; the scale is folded in here so
    that a one-hot mixture reproduces the token's input embedding.
    """
    embeddings = model.get_input_embeddings()
    scale = getattr(embeddings, "embed_scale", None)
    weight = embeddings.weight
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


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, sigma: float) -> torch.Tensor:
    """log N(x; mean, sigma^2 I) summed over the last dim, in float64 (the value is in the
    hundreds or thousands, where float32 keeps only ~1e-4 of it); 0 when sigma == 0 (no
    noise: the step is deterministic given the logits)."""
    if sigma == 0:
        return torch.zeros(x.shape[:-1], device=x.device, dtype=torch.float64)
    dim = x.shape[-1]
    sq = (x.double() - mean.double()).pow(2).sum(dim=-1)
    return -0.5 * sq / sigma**2 - 0.5 * dim * math.log(2 * math.pi * sigma**2)
