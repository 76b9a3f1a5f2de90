"""RLOO advantages and loss on hand-computed cases; the soft log-density gradient."""

from __future__ import annotations

import math

import pytest
import torch

from reasonloop.sampling.thinking import gaussian_log_density
from softcot.rloo import (
    fill_unjudged,
    leave_one_out_advantages,
    policy_gradient_loss,
    scale_thought_gradient,
)


def test_leave_one_out_advantages_by_hand() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.5, 0.0, 0.5]])
    expected = torch.tensor(
        [
            [1 - 1 / 3, 0 - 2 / 3, 0 - 2 / 3, 1 - 1 / 3],
            [0.0, 0.0, 0.0, 0.0],  # an all-equal group teaches nothing
            [1 - 1 / 3, 0.5 - 0.5, 0 - 2 / 3, 0.5 - 0.5],
        ]
    )
    assert torch.allclose(leave_one_out_advantages(rewards), expected)
    assert torch.allclose(
        leave_one_out_advantages(torch.tensor([[1.0, 0.0]])), torch.tensor([[1.0, -1.0]])
    )
    with pytest.raises(ValueError, match="G >= 2"):
        leave_one_out_advantages(torch.tensor([[1.0]]))


def test_unjudged_samples_get_their_groups_mean_and_no_advantage() -> None:
    nan = math.nan
    rewards = torch.tensor([[1.0, nan, 0.0, 0.0], [nan, nan, nan, nan], [nan, 1.0, 1.0, 1.0]])
    filled = fill_unjudged(rewards)
    assert torch.equal(
        filled,
        torch.tensor([[1.0, 1 / 3, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]),
    )
    advantages = leave_one_out_advantages(filled)
    assert torch.isfinite(advantages).all()
    assert advantages[rewards.isnan()].abs().max() < 1e-12  # no push either way
    assert advantages[0, 0] > 0 > advantages[0, 2]  # the judged ones still learn


def test_policy_gradient_loss_by_hand() -> None:
    log_probs = [torch.tensor([-1.0, -2.0]), torch.tensor([-0.5])]
    advantages = torch.tensor([1.0, -1.0])
    # -(1 * (-3) + (-1) * (-0.5)) / 2
    assert float(policy_gradient_loss(log_probs, advantages)) == pytest.approx(1.25)
    # KL (k3) against a reference equal to the policy is 0; against another one it is > 0
    same = policy_gradient_loss(log_probs, advantages, reference_log_probs=log_probs, kl_coef=0.5)
    assert float(same) == pytest.approx(1.25)
    ref = [torch.tensor([-1.0, -1.0]), torch.tensor([-0.5])]
    delta = torch.tensor(1.0)  # ref - logp at the one differing step
    k3 = float(delta.exp() - delta - 1)
    with_kl = policy_gradient_loss(log_probs, advantages, reference_log_probs=ref, kl_coef=0.5)
    assert float(with_kl) == pytest.approx(1.25 + 0.5 * k3 / 2)
    with pytest.raises(ValueError, match="advantages"):
        policy_gradient_loss(log_probs, torch.tensor([1.0]))


def test_loss_gradient_pushes_up_positive_advantage_samples() -> None:
    logits = torch.zeros(3, requires_grad=True)
    log_probs = torch.log_softmax(logits, dim=0)
    loss = policy_gradient_loss([log_probs[0:1], log_probs[1:2]], torch.tensor([1.0, -1.0]))
    loss.backward()
    assert logits.grad[0] < 0 < logits.grad[1]  # descent raises token 0, lowers token 1


def test_soft_log_density_gradient_matches_the_closed_form() -> None:
    torch.manual_seed(0)
    mean = torch.randn(16, dtype=torch.float64, requires_grad=True)
    x = torch.randn(16, dtype=torch.float64)
    sigma = 0.7
    gaussian_log_density(x, mean, sigma).backward()
    assert torch.allclose(mean.grad, (x - mean.detach()) / sigma**2)
    # and the value itself: the sum of 16 independent normal log-densities
    expected = torch.distributions.Normal(mean.detach(), sigma).log_prob(x).sum()
    assert float(gaussian_log_density(x, mean.detach(), sigma)) == pytest.approx(float(expected))


def test_scale_thought_gradient_keeps_values_and_scales_only_the_thought() -> None:
    steps = torch.tensor([-1.0, -2.0, -3.0, -4.0], dtype=torch.float64, requires_grad=True)
    scaled = scale_thought_gradient(steps, 3, 0.25)
    assert torch.equal(scaled.detach(), steps.detach())
    scaled.sum().backward()
    assert steps.grad.tolist() == [0.25, 0.25, 0.25, 1.0]
    assert scale_thought_gradient(steps, 3, 1.0) is steps
