"""SAM's ViTDet-style image encoder (ViT-B/L/H) with decomposed relative positions (MODELS.md §1.1).

Windowed blocks pad the normalised 64x64 map to 70x70 with zeros and do not mask the padding
(the official outputs depend on it). The relative-position term uses the unscaled q and is
added in place to the logits; windows and heads are batched, never looped over, except that
global attention is split into head groups to bound the [N, N] logits memory.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.fuse import linear_gelu
from annotator.nn.sam_heads import LayerNorm2d

# keep one [heads, N, N] block of attention logits below this many bytes (global attention: N=4096)
_BIAS_BYTES = 256 * 1024 * 1024


def _rel_index(q: int, k: int) -> torch.Tensor:
    """Row of the rel-pos table for each (query, key) pair; q == k here (same grid)."""
    qc = torch.arange(q)[:, None] * max(k / q, 1.0)
    kc = torch.arange(k)[None, :] * max(q / k, 1.0)
    return ((qc - kc) + (k - 1) * max(q / k, 1.0)).long()


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, self.head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, self.head_dim))
        self.register_buffer("_idx_h", _rel_index(input_size[0], input_size[0]), persistent=False)
        self.register_buffer("_idx_w", _rel_index(input_size[1], input_size[1]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, H, W, C] (a batch of windows, or the whole map)."""
        b, h, w, c = x.shape
        n = h * w
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, heads, N, hd]
        rh = self.rel_pos_h[self._idx_h]  # [h, h, hd]
        rw = self.rel_pos_w[self._idx_w]  # [w, w, hd]
        scale = self.head_dim ** -0.5
        step = max(1, int(_BIAS_BYTES // (b * n * n * 4)))
        outs = []
        for s in range(0, self.num_heads, step):  # one pass unless [N, N] logits would be huge
            qs = q[:, s: s + step]
            nh = qs.shape[1]
            attn = torch.matmul(qs * scale, k[:, s: s + step].transpose(-2, -1))
            # decomposed rel-pos with the unscaled q, added in place on the [h, w, h, w] view
            rq = qs.reshape(b, nh, h, w, self.head_dim)
            rel_h = torch.einsum("bnhwc,hkc->bnhwk", rq, rh)
            rel_w = torch.einsum("bnhwc,wkc->bnhwk", rq, rw)
            a5 = attn.view(b, nh, h, w, h, w)
            a5.add_(rel_h[..., :, None]).add_(rel_w[..., None, :])
            outs.append(torch.matmul(attn.softmax(dim=-1), v[:, s: s + step]))
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        return self.proj(out.transpose(1, 2).reshape(b, h, w, c))


class MLPBlock(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.lin2(linear_gelu(self.lin1, x))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, window_size: int, grid: tuple[int, int], mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.window_size = window_size
        size = (window_size, window_size) if window_size > 0 else grid
        self.attn = Attention(dim, num_heads, size)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        ws = self.window_size
        if ws > 0:
            b, h, w, c = x.shape
            ph, pw = (ws - h % ws) % ws, (ws - w % ws) % ws
            if ph or pw:
                x = F.pad(x, (0, 0, 0, pw, 0, ph))
            hp, wp = h + ph, w + pw
            x = x.reshape(b, hp // ws, ws, wp // ws, ws, c).transpose(2, 3).reshape(-1, ws, ws, c)
            x = self.attn(x)
            x = x.reshape(b, hp // ws, wp // ws, ws, ws, c).transpose(2, 3).reshape(b, hp, wp, c)
            x = x[:, :h, :w]
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class ImageEncoderViT(nn.Module):
    def __init__(self, img_size: int = 1024, patch_size: int = 16, embed_dim: int = 768, depth: int = 12,
                 num_heads: int = 12, global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11),
                 window_size: int = 14, out_chans: int = 256) -> None:
        super().__init__()
        grid = (img_size // patch_size, img_size // patch_size)
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, embed_dim, patch_size, patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0], grid[1], embed_dim))
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, 0 if i in global_attn_indexes else window_size, grid) for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, 1, bias=False), LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False), LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed.proj(x).permute(0, 2, 3, 1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.neck(x.permute(0, 3, 1, 2))
