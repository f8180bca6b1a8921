"""Separable self-attention, linear in the number of tokens, as used across joints in "Light Weight Computation and
Compact Network for 3D Hand Pose Estimation from Depth" (§3.4, Eq. 11; the method of "Separable Self-attention for
Mobile Vision Transformers").

For k tokens x (k, d)::

    c_s = softmax_over_tokens(x W_I)           (k,)    context scores, W_I: d -> 1
    c_v = sum_i c_s(i) · (x W_K)(i)            (d,)    context vector (Eq. 10), W_K: d -> d
    y   = (c_v * ReLU(x W_V)) W_O              (k, d)  broadcast over tokens, W_V, W_O: d -> d

Every step is a matrix multiply or an element-wise operation, so the cost is O(k · d²) instead of the O(k² · d) of
dot-product attention, and the layer exports to ONNX as plain MatMul / Softmax / ReduceSum nodes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SeparableLinearAttention(nn.Module):
    """Eq. 11: (B, k, d) tokens -> (B, k, d).

    Args:
        dim: d, the token width.
        bias: use biases in the four projections.
    """

    def __init__(self, dim: int, bias: bool = True) -> None:
        super().__init__()
        self.dim = dim
        self.to_score = nn.Linear(dim, 1, bias=bias)  # W_I
        self.to_key = nn.Linear(dim, dim, bias=bias)  # W_K
        self.to_value = nn.Linear(dim, dim, bias=bias)  # W_V
        self.out = nn.Linear(dim, dim, bias=bias)  # W_O

    def forward(self, x: Tensor) -> Tensor:
        scores = torch.softmax(self.to_score(x), dim=1)  # (B, k, 1) context scores c_s
        context = (scores * self.to_key(x)).sum(dim=1, keepdim=True)  # (B, 1, d) context vector c_v
        return self.out(context * torch.relu(self.to_value(x)))  # (B, k, d)


class SeparableAttentionBlock(nn.Module):
    """Pre-norm residual block: x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)) when ``mlp_ratio`` > 0.

    (B, k, d) -> (B, k, d).

    Args:
        dim: token width.
        mlp_ratio: hidden width of the feed-forward part as a multiple of ``dim`` (0 = no feed-forward part).
    """

    def __init__(self, dim: int, mlp_ratio: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SeparableLinearAttention(dim)
        self.mlp: nn.Module | None = None
        if mlp_ratio > 0:
            hidden = max(int(dim * mlp_ratio), 1)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x
