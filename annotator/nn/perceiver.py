"""EdgeTAM's 2-D spatial perceiver and its memory cross-attention (../shared/docs/MODELS.md 7.2).

`PerceiverResampler` (official name `spatial_perceiver`) compresses one frame's memory
[B, 64, H, W] to 512 tokens: 256 global latents attend to every memory token (memory pos added to
the projected keys AND values; their output pos is zero), and 256 "2-D" latents each attend to
their own 4x4 window without pos (their output pos is the sine encoding of the 16x16 latent grid).
`RoPEAttentionV2` is the matching memory cross-attention: RoPE on the query grid and a 16x16 RoPE
on the 2-D latents of every memory frame; global latents and object pointers get none.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.rope import PositionEmbeddingSine, RoPEAttention, apply_rope, rope_table


def _feed_forward(dim: int, mult: int = 4) -> nn.Sequential:
    # indices 0..3 are the official names (LN, Linear, GELU, Linear)
    return nn.Sequential(
        nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(), nn.Linear(dim * mult, dim, bias=False)
    )


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, n, c = x.shape
    return x.transpose(1, 2).reshape(b, n, h * c)


class _CrossAttention(nn.Module):
    """Latents attend to the memory tokens (bias-free projections)."""

    def __init__(self, dim: int, dim_head: int, heads: int):
        super().__init__()
        inner = dim_head * heads
        self.heads = heads
        self.norm_x = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, latents, x, pos=None):
        latents = self.norm_latents(latents)
        x = self.norm_x(x)
        q = _split_heads(self.to_q(latents), self.heads)
        k, v = (_split_heads(t, self.heads) for t in self.to_kv(x).chunk(2, dim=-1))
        if pos is not None:
            # the official layer adds the position to both keys and values
            p = _split_heads(pos, self.heads)
            k, v = k + p, v + p
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, dim_head: int, heads: int):
        super().__init__()
        inner = dim_head * heads
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x):
        x = self.norm(x)
        q = _split_heads(self.to_q(x), self.heads)
        k, v = (_split_heads(t, self.heads) for t in self.to_kv(x).chunk(2, dim=-1))
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class _PerceiverLayer(nn.Module):
    def __init__(self, dim: int, dim_head: int, heads: int, ff_mult: int):
        super().__init__()
        self.attn = _CrossAttention(dim, dim_head, heads)
        self.ff = _feed_forward(dim, ff_mult)
        self.self_attn = _SelfAttention(dim, dim_head, heads)
        self.self_ff = _feed_forward(dim, ff_mult)

    def forward(self, latents, x, pos=None):
        latents = self.attn(latents, x, pos) + latents
        latents = self.ff(latents) + latents
        latents = self.self_attn(latents) + latents
        return self.self_ff(latents) + latents


class PerceiverResampler(nn.Module):
    def __init__(self, dim: int = 64, depth: int = 2, dim_head: int = 64, heads: int = 1,
                 num_latents: int = 256, num_latents_2d: int = 256, ff_mult: int = 4):
        super().__init__()
        self.latents = nn.Parameter(torch.zeros(num_latents, dim))
        self.latents_2d = nn.Parameter(torch.zeros(num_latents_2d, dim))
        self.layers = nn.ModuleList(_PerceiverLayer(dim, dim_head, heads, ff_mult) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.grid = int(round(math.sqrt(num_latents_2d)))
        self.position_encoding = PositionEmbeddingSine(dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None):
        """x, pos [B, C, H, W] -> tokens [B, 256+256, C], pos [B, 256+256, C] (None if pos is None)."""
        g, g_pos = self._global(x, pos)
        w, w_pos = self._windowed(x)
        tokens = torch.cat([g, w], dim=1)
        if pos is None:
            return tokens, None
        return tokens, torch.cat([g_pos, w_pos.expand(g.shape[0], -1, -1)], dim=1)

    def _global(self, x, pos):
        b = x.shape[0]
        lat = self.latents.unsqueeze(0).expand(b, -1, -1)
        flat = x.flatten(2).transpose(1, 2)
        p = pos.flatten(2).transpose(1, 2) if pos is not None else None
        for layer in self.layers:
            lat = layer(lat, flat, p)
        return self.norm(lat), torch.zeros_like(lat)

    def _windowed(self, x):
        b, c, h, w = x.shape
        n, ws = self.grid, h // self.grid
        # one latent per window, batch-major (the official code only handles B == 1 here; this
        # does the same per object, upstream EdgeTAM issue #15)
        lat = self.latents_2d.unsqueeze(0).expand(b, -1, -1).reshape(b * n * n, 1, c)
        win = x.permute(0, 2, 3, 1).reshape(b, n, ws, n, ws, c).permute(0, 1, 3, 2, 4, 5)
        win = win.reshape(b * n * n, ws * ws, c)
        for layer in self.layers:
            lat = layer(lat, win)
        lat = lat.reshape(b, n * n, c)
        pe = self.position_encoding.grid(n, n, x.device)  # [C, n, n]
        return self.norm(lat), pe.flatten(1).transpose(0, 1)[None]


def build_perceiver(cfg: dict) -> PerceiverResampler:
    return PerceiverResampler(
        dim=int(cfg.get("dim", 64)),
        depth=int(cfg.get("depth", 2)),
        dim_head=int(cfg.get("dim_head", 64)),
        heads=int(cfg.get("heads", 1)),
        num_latents=int(cfg.get("num_latents", 256)),
        num_latents_2d=int(cfg.get("num_latents_2d", 256)),
        ff_mult=int(cfg.get("ff_mult", 4)),
    )


class RoPEAttentionV2(RoPEAttention):
    """Cross-attention to perceiver memories: q gets the (square) query-grid RoPE; in every memory
    frame the leading global tokens get none and the trailing 2-D tokens the k_sizes RoPE."""

    def __init__(self, q_sizes=(64, 64), k_sizes=(16, 16), embedding_dim: int = 256, num_heads: int = 1,
                 kv_in_dim: int | None = 64, downsample_rate: int = 1, rope_theta: float = 10000.0):
        super().__init__(embedding_dim, num_heads, kv_in_dim=kv_in_dim, downsample_rate=downsample_rate,
                         rope_theta=rope_theta)
        hd = self.internal_dim // num_heads
        self.k_table = rope_table(hd, k_sizes[0], k_sizes[1], rope_theta)

    def forward(self, q, k, v, num_k_exclude_rope: int = 0, rope_k_repeat: int | None = None):
        q = self._heads(self.q_proj(q))
        k = self._heads(self.k_proj(k))
        v = self._heads(self.v_proj(v))
        # the official q table is fixed at q_sizes; it equals the square table of the query grid
        q = apply_rope(q, self._table(q.shape[-2]))
        n_rope = k.shape[-2] - num_k_exclude_rope
        frames = int(rope_k_repeat or 0)
        if n_rope > 0 and frames > 0:
            b, h, _, d = k.shape
            per = n_rope // frames
            n_2d = self.k_table.shape[0]
            mem = k[:, :, :n_rope].reshape(b, h, frames, per, d)
            glob = mem[:, :, :, : per - n_2d]
            rot = apply_rope(mem[:, :, :, per - n_2d :].reshape(b, h, frames * n_2d, d), self.k_table, repeat=frames)
            mem = torch.cat([glob, rot.reshape(b, h, frames, n_2d, d)], dim=3).reshape(b, h, n_rope, d)
            k = torch.cat([mem, k[:, :, n_rope:]], dim=2)
        out = F.scaled_dot_product_attention(q, k, v)
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))
