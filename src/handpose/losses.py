"""Losses shared by the model zoo.

All take batch-first tensors and return a scalar tensor. ``weight`` arguments are per-map (or per-joint) weights
of shape (B, J) — 0 for a joint without a usable label — broadcast over the remaining dimensions; a weighted loss
is normalised by the sum of the weights (the number of labelled maps), so it does not shrink when joints are missing,
and is 0 (with a gradient path) when nothing is labelled.

- :func:`spatial_softmax_cross_entropy`: the "standard softmax cross-entropy" over each score map of "Multihead Self
  Attention Hand Pose Estimation" (soft targets: the Gaussian map normalised to a distribution).
- :func:`l2_loss`, :func:`l1_loss`: mean squared / absolute error.
- :func:`soft_dice_loss`: 1 − 2·x̂ᵀx / (‖x̂‖² + ‖x‖²) of "Skeleton-aware multi-scale heatmap regression for 2D hand
  pose estimation", per sample, averaged over the batch.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def _weighted_mean(per_item: Tensor, weight: Tensor | None) -> Tensor:
    """Mean of ``per_item`` (B, J) weighted by ``weight`` (B, J) (or a plain mean when None)."""
    if weight is None:
        return per_item.mean()
    w = weight.to(per_item.dtype).expand_as(per_item)
    return (per_item * w).sum() / w.sum().clamp_min(1.0)


def _per_item(err: Tensor, weight: Tensor | None) -> Tensor:
    """Reduce an element-wise error to (B, J) means over the trailing dims when ``weight`` is (B, J)."""
    if weight is None:
        return err
    lead = weight.ndim
    return err.flatten(lead).mean(dim=-1) if err.ndim > lead else err


def spatial_softmax_cross_entropy(logits: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Cross-entropy between the softmax over each map's H·W pixels and the target map as a distribution.

    Args:
        logits: (B, J, H, W) raw score maps.
        target: (B, J, H, W) non-negative target maps (Gaussians peaking at 1); each is divided by its sum.
            Maps that sum to zero (invisible joints) are left out.
        weight: optional (B, J) weights.

    Returns:
        scalar: mean over labelled maps of −Σ_pixels t · log softmax(logits). Its floor is the entropy of the
        target distribution (about log(2πe·σ²) nats for a Gaussian of σ map pixels), not zero.
    """
    log_p = F.log_softmax(logits.flatten(2), dim=-1)  # (B, J, HW)
    t = target.flatten(2).to(log_p.dtype)
    mass = t.sum(dim=-1)  # (B, J)
    ce = -(t * log_p).sum(dim=-1) / mass.clamp_min(1e-12)  # (B, J)
    w = (mass > 0).to(log_p.dtype)
    if weight is not None:
        w = w * weight.to(log_p.dtype)
    return (ce * w).sum() / w.sum().clamp_min(1.0)


def l2_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean squared error; with ``weight`` (B, J) the per-(B, J) means are weighted (see the module docstring)."""
    err = (pred - target.to(pred.dtype)) ** 2
    return _weighted_mean(_per_item(err, weight), weight)


def l1_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean absolute error; with ``weight`` (B, J) the per-(B, J) means are weighted."""
    err = (pred - target.to(pred.dtype)).abs()
    return _weighted_mean(_per_item(err, weight), weight)


def soft_dice_loss(pred: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """Soft Dice loss 1 − (2·Σ x̂x + eps) / (Σ x̂² + Σ x² + eps), per sample over all its pixels, batch mean.

    Args:
        pred: (B, ...) predictions in [0, 1] (after the sigmoid).
        target: (B, ...) targets in [0, 1].
        eps: smoothing, so that an empty prediction of an empty target costs 0 (no-hand frames).
    """
    p = pred.flatten(1)
    t = target.flatten(1).to(p.dtype)
    inter = (p * t).sum(dim=1)
    denom = (p * p).sum(dim=1) + (t * t).sum(dim=1)
    return (1.0 - (2.0 * inter + eps) / (denom + eps)).mean()


def cross_entropy(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Class cross-entropy: logits (B, K), integer labels (B,)."""
    return F.cross_entropy(logits, labels.long(), label_smoothing=label_smoothing)


__all__ = ["spatial_softmax_cross_entropy", "l2_loss", "l1_loss", "soft_dice_loss", "cross_entropy"]
