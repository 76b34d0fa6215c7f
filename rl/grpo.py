"""GRPO: group-normalised advantages and a token-level clipped policy loss (docs/deepeyes.md, "Training run").

A_i = (r_i − mean(r_group)) / (std(r_group) + ε)          (unbiased std, as verl's GRPO)
loss = token-mean over action tokens of  −min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A)
       with dual clip for A < 0: max(that, −c·A)            (c = 3)
     + β · KL(π ‖ π_ref)  (k3 estimator; β = 0 in DeepEyes)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import GRPOConfig


def group_advantages(rewards: torch.Tensor, group_ids: list, eps: float = 1e-6) -> torch.Tensor:
    """Per-trajectory advantages; a group of one (or with equal rewards) gets 0."""
    adv = torch.zeros_like(rewards, dtype=torch.float32)
    for gid in dict.fromkeys(group_ids):
        idx = torch.tensor([i for i, g in enumerate(group_ids) if g == gid])
        r = rewards[idx].float()
        if len(idx) > 1:
            adv[idx] = (r - r.mean()) / (r.std(unbiased=True) + eps)
    return adv


@dataclass
class LossStats:
    loss: torch.Tensor
    policy_loss: float
    kl: float
    clip_fraction: float
    ratio_mean: float


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cfg: GRPOConfig,
    ref_logp: torch.Tensor | None = None,
) -> LossStats:
    """``logp``, ``old_logp``, ``ref_logp``, ``mask``: (batch, seq) over next-token targets; ``advantages``: (batch,)."""
    mask = mask.float()
    n = mask.sum().clamp(min=1)
    adv = advantages[:, None].expand_as(logp)
    ratio = torch.exp(logp - old_logp)
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1 - cfg.clip_low, 1 + cfg.clip_high)
    per_token = torch.maximum(unclipped, clipped)
    if cfg.dual_clip > 1:
        per_token = torch.where(adv < 0, torch.minimum(per_token, -adv * cfg.dual_clip), per_token)
    pg = (per_token * mask).sum() / n
    loss, kl_value = pg, 0.0
    if cfg.kl_coef > 0 and ref_logp is not None:
        delta = ref_logp - logp
        kl = (torch.exp(delta) - delta - 1) * mask  # k3: unbiased, non-negative
        loss = loss + cfg.kl_coef * kl.sum() / n
        kl_value = float(kl.sum() / n)
    clip_frac = (((ratio < 1 - cfg.clip_low) | (ratio > 1 + cfg.clip_high)).float() * mask).sum() / n
    return LossStats(loss, pg.item(), kl_value, clip_frac.item(), ((ratio.detach() * mask).sum() / n).item())
