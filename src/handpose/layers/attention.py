"""Multi-head self-attention over the tokens of a feature map, with a 2D position encoding.

The attention of "Attention Is All You Need" applied to a (B, C, H, W) feature map as in the bottleneck of
"Multihead Self Attention Hand Pose Estimation": every spatial position is a token of C channels, a 2D position
encoding is added, and the tokens attend to each other through ``torch.nn.functional.scaled_dot_product_attention``
(which picks a fused / memory-efficient kernel when one is available). The block is pre-norm with a residual
connection, optionally followed by a position-wise MLP, so it keeps the feature map's shape and starts close to the
identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sincos_position_encoding_2d(height: int, width: int, channels: int, temperature: float = 10000.0) -> Tensor:
    """Fixed sine-cosine 2D position encoding.

    Half of the channels encode the row (y), half the column (x); each half is split into sines and cosines of
    geometrically spaced frequencies, as in the 1D encoding of "Attention Is All You Need".

    Args:
        height, width: feature map size in tokens.
        channels: encoding width, a multiple of 4.
        temperature: the longest wavelength.

    Returns:
        (height · width, channels) float32, rows in raster order (y major).
    """
    if channels % 4 != 0:
        raise ValueError(f"2D sine-cosine position encoding needs channels divisible by 4, got {channels}")
    quarter = channels // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter)  # (C/4,)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    y = ys.reshape(-1, 1) * omega  # (HW, C/4)
    x = xs.reshape(-1, 1) * omega
    return torch.cat([y.sin(), y.cos(), x.sin(), x.cos()], dim=1)  # (HW, C)


class MultiHeadSelfAttention2d(nn.Module):
    """Pre-norm multi-head self-attention block over feature-map tokens: ``x + Attn(LN(x + P))`` (+ MLP).

    Args:
        channels: C, the token width (divisible by ``heads``; by 4 for the sine-cosine encoding).
        heads: number of attention heads.
        position: "sincos" (fixed, any feature-map size), "learned" (a parameter for ``size``), or "none".
        size: (H, W) of the feature map, required for ``position="learned"``.
        mlp_ratio: hidden width of the position-wise MLP as a multiple of C; 0 disables the MLP.
        dropout: attention-weight dropout during training.

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        heads: int = 8,
        position: str = "sincos",
        size: tuple[int, int] | None = None,
        mlp_ratio: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        if position not in ("sincos", "learned", "none"):
            raise ValueError(f"position must be 'sincos', 'learned' or 'none', got {position!r}")
        self.channels = channels
        self.heads = heads
        self.position = position
        self.dropout = dropout
        if position == "learned":
            if size is None:
                raise ValueError("a learned position encoding needs the feature-map size")
            self.pos = nn.Parameter(torch.zeros(1, size[0] * size[1], channels))
            nn.init.trunc_normal_(self.pos, std=0.02)
        self._pos_cache: dict[tuple[int, int], Tensor] = {}
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.mlp: nn.Module | None = None
        if mlp_ratio > 0:
            hidden = int(round(channels * mlp_ratio))
            self.mlp = nn.Sequential(
                nn.LayerNorm(channels), nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels)
            )

    def _position(self, h: int, w: int, ref: Tensor) -> Tensor | None:
        if self.position == "none":
            return None
        if self.position == "learned":
            if self.pos.shape[1] != h * w:
                raise ValueError(f"learned position encoding is for {self.pos.shape[1]} tokens, got {h}x{w}")
            return self.pos
        key = (h, w)  # plain ints (see forward), so a traced export finds the cache and writes one constant
        if key not in self._pos_cache:
            self._pos_cache[key] = sincos_position_encoding_2d(h, w, self.channels)
        return self._pos_cache[key].to(device=ref.device, dtype=ref.dtype).unsqueeze(0)  # (1, HW, C)

    def forward(self, x: Tensor) -> Tensor:
        # plain ints, and -1 for the batch in an export: the graph keeps the batch axis dynamic and the rest as
        # constants, without the shape arithmetic (about twenty small nodes) a traced x.shape would put in it
        _, c, h, w = (int(v) for v in x.shape)
        b = -1 if torch.onnx.is_in_onnx_export() else x.shape[0]
        tokens = x.reshape(b, c, h * w).transpose(1, 2)  # (B, HW, C)
        pos = self._position(h, w, tokens)
        z = self.norm(tokens if pos is None else tokens + pos)
        qkv = self.qkv(z).reshape(b, h * w, 3, self.heads, c // self.heads)  # (B, T, 3, heads, dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, dim)
        attn = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, scale=(self.channels // self.heads) ** -0.5
        )  # the default scale, as a constant
        attn = attn.transpose(1, 2).reshape(b, h * w, c)  # (B, T, C)
        tokens = tokens + self.proj(attn)
        if self.mlp is not None:
            tokens = tokens + self.mlp(tokens)
        return tokens.transpose(1, 2).reshape(b, c, h, w)
