"""RLOO: REINFORCE with a leave-one-out baseline, the estimator "Soft Tokens, Hard Truths" uses.

Each prompt gets a group of G samples; sample i's advantage is its reward minus the mean reward
of the other G - 1 samples, so no value network is needed and the baseline never sees the
sample it corrects. The policy-gradient loss weights each sample's log-probability by its
advantage. For soft/fuzzy chains of thought that log-probability is the Gaussian log-density
of each noisy input (what the sampler drew) plus the token log-probs of the discrete answer,
exactly the per-step values `reasonloop.sampling.teacher_forcing.completion_log_probs` recomputes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def leave_one_out_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """rewards [prompts, G] -> advantages [prompts, G]: r_i - mean_{j != i} r_j."""
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be [prompts, G >= 2], got {tuple(rewards.shape)}")
    group = rewards.shape[1]
    others_mean = (rewards.sum(dim=1, keepdim=True) - rewards) / (group - 1)
    return rewards - others_mean


def fill_unjudged(rewards: torch.Tensor) -> torch.Tensor:
    """rewards [prompts, G] with NaN where the reward could not judge a sample (e.g. a math
    comparison that timed out) -> each NaN replaced by its group's mean judged reward (0 when
    none is judged). The unjudged sample's leave-one-out advantage is then exactly 0: it pushes
    the policy neither way, where scoring it 0 would punish a possibly right answer."""
    judged = ~rewards.isnan()
    sums = torch.where(judged, rewards, 0.0).sum(dim=1, keepdim=True)
    means = sums / judged.sum(dim=1, keepdim=True).clamp(min=1)
    return torch.where(judged, rewards, means)


def policy_gradient_loss(
    step_log_probs: Sequence[torch.Tensor],
    advantages: torch.Tensor,
    *,
    reference_log_probs: Sequence[torch.Tensor] | None = None,
    kl_coef: float = 0.0,
) -> torch.Tensor:
    """-mean_i A_i * sum_t log p_i,t (+ kl_coef * mean_i sum_t KL_i,t).

    The sum over steps makes the loss the log-probability of the whole sampled trajectory, as
    REINFORCE requires. The KL term uses the non-negative k3 estimator
    exp(ref - logp) - (ref - logp) - 1 per step against the frozen reference policy.
    """
    if len(step_log_probs) != advantages.numel():
        raise ValueError(f"{len(step_log_probs)} completions but {advantages.numel()} advantages")
    advantages = advantages.reshape(-1).to(torch.float64)
    totals = torch.stack([lp.sum() for lp in step_log_probs]).to(torch.float64)
    loss = -(advantages.to(totals.device) * totals).mean()
    if kl_coef > 0:
        if reference_log_probs is None:
            raise ValueError("kl_coef > 0 needs reference_log_probs")
        kl = []
        for lp, ref in zip(step_log_probs, reference_log_probs, strict=True):
            delta = ref.to(lp.device, lp.dtype) - lp
            kl.append((delta.exp() - delta - 1).sum())
        loss = loss + kl_coef * torch.stack(kl).to(torch.float64).mean()
    return loss


def scale_thought_gradient(
    step_log_probs: torch.Tensor, thought: int, weight: float
) -> torch.Tensor:
    """The same per-step log-probabilities, with the gradient through the first `thought`
    (chain-of-thought) steps multiplied by `weight`; values are unchanged.

    A soft step's score is the Gaussian one, eps / sigma with norm ~ sqrt(hidden) / sigma,
    so in soft/fuzzy RL the CoT term's gradient is mostly noise and can dwarf the answer's;
    `weight` < 1 trades CoT credit for a cleaner answer signal (`train.cot_weight`).
    """
    if weight == 1:
        return step_log_probs
    head = step_log_probs[:thought]
    scaled = head * weight + head.detach() * (1 - weight)
    return torch.cat([scaled, step_log_probs[thought:]])
