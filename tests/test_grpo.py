"""GRPO against hand-computed values, and the gradient reaches action tokens only."""

import math

import pytest
import torch

from deepeyes_agent.rl.grpo import GRPOConfig, group_advantages, policy_loss


def test_group_advantages_by_hand():
    adv = group_advantages(torch.tensor([2.0, 0.0, 0.8, 0.8, 5.0]), ["a", "a", "b", "b", "c"])
    std = math.sqrt(2.0)  # unbiased std of [2, 0]
    assert adv[:2].tolist() == pytest.approx([1 / (std + 1e-6), -1 / (std + 1e-6)])
    assert adv[2:].tolist() == [0.0, 0.0, 0.0]  # equal rewards, and a group of one


def test_clipped_loss_by_hand():
    cfg = GRPOConfig(clip_low=0.2, clip_high=0.2, dual_clip=3.0)
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.9, 1.0]]))  # ratios 1.5, 0.9, 1.0
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    pos = policy_loss(logp, old, torch.tensor([2.0]), mask, cfg)
    # A>0: min(ρA, clip(ρ)A) → token 1: min(3.0, 2.4)=2.4; token 2: min(1.8, 1.8)=1.8; loss = -(2.4+1.8)/2
    assert pos.loss.item() == pytest.approx(-2.1, abs=1e-5)
    neg = policy_loss(torch.log(torch.tensor([[5.0, 1.0, 1.0]])), old, torch.tensor([-1.0]), mask, cfg)
    # A<0: max(-ρA, -clip(ρ)A) = 5 for ρ=5, dual clip bounds it at 3; token 2: 1; mean = 2
    assert neg.loss.item() == pytest.approx(2.0, abs=1e-5)
    assert neg.clip_fraction == pytest.approx(0.5)


def test_kl_term_k3():
    cfg = GRPOConfig(kl_coef=0.5)
    logp = torch.log(torch.tensor([[0.5]]))
    ref = torch.log(torch.tensor([[0.25]]))
    out = policy_loss(logp, logp.clone(), torch.tensor([0.0]), torch.ones(1, 1), cfg, ref)
    k3 = 0.5 - math.log(0.5) - 1  # exp(ref-logp) - (ref-logp) - 1
    assert out.kl == pytest.approx(k3, abs=1e-6) and out.loss.item() == pytest.approx(0.5 * k3, abs=1e-6)


def test_loss_gradient_is_zero_on_masked_tokens():
    logp = torch.randn(2, 6, requires_grad=True)
    mask = torch.tensor([[0, 1, 1, 0, 0, 1], [1, 0, 0, 0, 1, 1]], dtype=torch.float32)
    policy_loss(logp, logp.detach(), torch.tensor([1.0, -0.5]), mask, GRPOConfig()).loss.backward()
    assert torch.all(logp.grad[mask == 0] == 0) and torch.all(logp.grad[mask == 1] != 0)
