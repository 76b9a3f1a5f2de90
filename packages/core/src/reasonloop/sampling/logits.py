"""Per-row next-token choice: penalties and logit bias, temperature, top-k, top-p, min-p,
greedy, seeded draws.

Every row of a batch may carry its own parameters and its own random generator, so a
request gets the same tokens whether it is decoded alone or batched with others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reasonloop.extras import requires

with requires("models"):
    import torch

from reasonloop.sampling.params import SamplingParams


@dataclass
class RowSettings:
    """The parameters of every row of a batch, as tensors for vectorized processing."""

    temperature: torch.Tensor  # [B], 0 for greedy rows
    top_k: torch.Tensor  # [B], 0 for off
    top_p: torch.Tensor  # [B]
    min_p: torch.Tensor  # [B]
    greedy: list[bool]
    truncates: bool  # any row uses top-k/top-p/min-p

    @classmethod
    def of(cls, params: Sequence[SamplingParams], device: torch.device) -> RowSettings:
        return cls(
            temperature=torch.tensor([p.temperature for p in params], device=device),
            top_k=torch.tensor([p.top_k for p in params], device=device),
            top_p=torch.tensor([p.top_p for p in params], device=device),
            min_p=torch.tensor([p.min_p for p in params], device=device),
            greedy=[p.greedy for p in params],
            truncates=any(p.top_k > 0 or p.top_p < 1 or p.min_p > 0 for p in params),
        )

    def select(self, rows: torch.Tensor) -> RowSettings:
        keep = rows.tolist()
        return RowSettings(
            temperature=self.temperature[rows],
            top_k=self.top_k[rows],
            top_p=self.top_p[rows],
            min_p=self.min_p[rows],
            greedy=[self.greedy[i] for i in keep],
            truncates=self.truncates,
        )


def adjust_logits(
    logits: torch.Tensor,
    params: Sequence[SamplingParams],
    prompt_ids: Sequence[Sequence[int]],
    answer_ids: Sequence[Sequence[int]],
) -> None:
    """Apply each row's penalties and logit bias to its float `logits` [B, V], in place, as
    vLLM does: `repetition_penalty` divides the positive (multiplies the negative) logits of
    every token seen in the prompt or the answer so far; `frequency_penalty` subtracts
    penalty x count of each answer token, `presence_penalty` penalty x (count > 0); then each
    `logit_bias` entry is added. Rows that ask for none of these are not touched."""
    vocab = logits.shape[-1]
    for row, p in enumerate(params):
        if not p.adjusts_logits:
            continue
        z = logits[row]
        answer = torch.tensor(answer_ids[row], dtype=torch.long, device=z.device)
        if p.repetition_penalty != 1:
            seen = torch.zeros(vocab, dtype=torch.bool, device=z.device)
            seen[torch.tensor(prompt_ids[row], dtype=torch.long, device=z.device)] = True
            seen[answer] = True
            penalized = torch.where(z > 0, z / p.repetition_penalty, z * p.repetition_penalty)
            z.copy_(torch.where(seen, penalized, z))
        if (p.frequency_penalty or p.presence_penalty) and len(answer):
            counts = torch.bincount(answer, minlength=vocab)[:vocab].to(z.dtype)
            z -= p.frequency_penalty * counts + p.presence_penalty * (counts > 0).to(z.dtype)
        if p.logit_bias:
            ids = torch.tensor([t for t, _ in p.logit_bias], dtype=torch.long, device=z.device)
            bias = torch.tensor([b for _, b in p.logit_bias], dtype=z.dtype, device=z.device)
            z.index_add_(0, ids, bias)


def scaled_log_probs(logits: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """log softmax(z / T) per row; greedy rows (T = 0) use T = 1."""
    safe = torch.where(temperature > 0, temperature, torch.ones_like(temperature))
    return torch.log_softmax(logits.float() / safe[:, None], dim=-1)


def truncate(log_probs: torch.Tensor, settings: RowSettings) -> torch.Tensor:
    """Mask (to -inf) the tokens excluded by each row's top-k, top-p and min-p."""
    if not settings.truncates:
        return log_probs
    sorted_lp, order = log_probs.sort(dim=-1, descending=True)
    vocab = log_probs.shape[-1]
    ranks = torch.arange(vocab, device=log_probs.device)[None, :]
    k = torch.where(settings.top_k > 0, settings.top_k, torch.full_like(settings.top_k, vocab))
    drop = ranks >= k[:, None]
    probs = sorted_lp.exp()
    mass_before = probs.cumsum(dim=-1) - probs
    drop |= mass_before >= settings.top_p[:, None]
    drop |= probs < settings.min_p[:, None] * probs[:, :1]
    drop[:, 0] = False  # the most likely token always survives
    sorted_lp = sorted_lp.masked_fill(drop, float("-inf"))
    return torch.empty_like(log_probs).scatter_(-1, order, sorted_lp)


def draw(probs: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token per row of (unnormalized) `probs`, by inverting the CDF at a uniform draw
    from that row's generator: one random number per row instead of one per vocab entry."""
    cdf = probs.cumsum(dim=-1)
    uniform = torch.cat([torch.rand(1, generator=g, device=probs.device) for g in generators])
    tokens = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None], right=True)[:, 0]
    return tokens.clamp(max=probs.shape[-1] - 1)


def choose_tokens(
    log_probs: torch.Tensor, settings: RowSettings, generators: Sequence[torch.Generator]
) -> torch.Tensor:
    """Pick one token per row: argmax for greedy rows, a seeded draw otherwise (no argmax
    pass over the vocabulary when no row is greedy)."""
    sampled = [row for row, greedy in enumerate(settings.greedy) if not greedy]
    if not sampled:
        return log_probs.argmax(dim=-1)
    if len(sampled) == len(settings.greedy):
        return draw(truncate(log_probs, settings).exp(), generators)
    tokens = log_probs.argmax(dim=-1)
    rows = torch.tensor(sampled, device=log_probs.device)
    probs = truncate(log_probs[rows], settings.select(rows)).exp()
    tokens[sampled] = draw(probs, [generators[row] for row in sampled])
    return tokens
