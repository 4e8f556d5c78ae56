"""Primitives the SAM 2 memory path and its variants share: sine position encodings, 2-D RoPE
and the RoPE attention block (MODELS.md 5.2, 5.4). Their own module so that memory.py can
build every memory-attention variant and the variants (efficient_memory, perceiver) can
extend these blocks without importing each other.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------------------------------------
# position encodings


class PositionEmbeddingSine(nn.Module):
    """2-D sine encoding of a feature map's grid (content independent, cached per size).

    num_pos_feats/2 channels per axis, positions 1..H normalised by (H + 1e-6) and scaled by 2π,
    channels interleaved [sin, cos, ...], output concatenated [y-part, x-part].
    """

    def __init__(self, num_pos_feats: int, temperature: float = 10000.0):
        super().__init__()
        assert num_pos_feats % 2 == 0
        self.half = num_pos_feats // 2
        self.temperature = temperature
        self._cache: dict[tuple, torch.Tensor] = {}

    def grid(self, h: int, w: int, device=None) -> torch.Tensor:
        key = (h, w, str(device))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        scale = 2 * math.pi
        y = torch.arange(1, h + 1, dtype=torch.float32, device=device).view(h, 1).expand(h, w)
        x = torch.arange(1, w + 1, dtype=torch.float32, device=device).view(1, w).expand(h, w)
        y = y / (float(h) + 1e-6) * scale
        x = x / (float(w) + 1e-6) * scale
        k = torch.arange(self.half, dtype=torch.float32, device=device)
        dim_t = self.temperature ** (2 * (k // 2) / self.half)
        px = x[..., None] / dim_t
        py = y[..., None] / dim_t
        px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=-1).flatten(-2)
        py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=-1).flatten(-2)
        pe = torch.cat((py, px), dim=-1).permute(2, 0, 1).contiguous()  # [C, H, W]
        self._cache[key] = pe
        return pe

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pe = self.grid(x.shape[-2], x.shape[-1], x.device)
        return pe[None].expand(x.shape[0], -1, -1, -1)


def sine_pe_1d(pos: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """1-D sine encoding [..., dim] = [sin | cos] halves (object-pointer temporal positions)."""
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=pos.device)
    dim_t = temperature ** (2 * (k // 2) / half)
    p = pos.unsqueeze(-1) / dim_t
    return torch.cat([p.sin(), p.cos()], dim=-1)


def rope_table(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> torch.Tensor:
    """Axial 2-D RoPE rotations, complex64 [end_x*end_y, dim//2]: first dim//4 pairs rotate with
    the token's x = t mod end_x, the next dim//4 with y = t div end_x."""
    end_x, end_y = int(end_x), int(end_y)
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    tx = t % end_x
    ty = torch.div(t, end_x, rounding_mode="floor")
    ax = torch.outer(tx, freqs)
    ay = torch.outer(ty, freqs)
    return torch.cat([torch.polar(torch.ones_like(ax), ax), torch.polar(torch.ones_like(ay), ay)], dim=-1)


def apply_rope(x: torch.Tensor, table: torch.Tensor, repeat: int = 1) -> torch.Tensor:
    """Rotate consecutive channel pairs of x [B, heads, N, hd] by `table` tiled `repeat` times
    along the tokens (N == repeat * len(table))."""
    if x.shape[-2] == 0:
        return x
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    t = table.to(x.device)
    if repeat > 1:
        # expand + flatten: repeat() on complex tensors is not supported on every device
        t = t.unsqueeze(0).expand(repeat, -1, -1).flatten(0, 1)
    return torch.view_as_real(xc * t).flatten(-2).type_as(x)


class RoPEAttention(nn.Module):
    """Single/multi-head attention with axial RoPE on q and on the first (N - excluded) keys."""

    def __init__(self, embedding_dim: int = 256, num_heads: int = 1, kv_in_dim: int | None = None,
                 downsample_rate: int = 1, rope_theta: float = 10000.0, feat_sizes=(64, 64)):
        super().__init__()
        kv = kv_in_dim or embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        self.theta = rope_theta
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(kv, self.internal_dim)
        self.v_proj = nn.Linear(kv, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)
        self._tables: dict[int, torch.Tensor] = {}

    def _table(self, n: int) -> torch.Tensor:
        t = self._tables.get(n)
        if t is None:
            side = int(round(math.sqrt(n)))  # the query grid is assumed square
            t = rope_table(self.internal_dim // self.num_heads, side, side, self.theta)
            self._tables[n] = t
        return t

    def _heads(self, x):
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q, k, v, num_k_exclude_rope: int = 0, rope_k_repeat: int | None = None):
        q = self._heads(self.q_proj(q))
        k = self._heads(self.k_proj(k))
        v = self._heads(self.v_proj(v))
        table = self._table(q.shape[-2])
        q = apply_rope(q, table)
        n_rope = k.shape[-2] - num_k_exclude_rope
        if n_rope > 0:
            rep = n_rope // q.shape[-2]
            k_rot = apply_rope(k[:, :, :n_rope], table, repeat=rep)
            k = torch.cat([k_rot, k[:, :, n_rope:]], dim=2) if num_k_exclude_rope else k_rot
        out = F.scaled_dot_product_attention(q, k, v)
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))
