"""EfficientTAM's pooled memory cross-attention (`EfficientRoPEAttention1` / `...2`).

Drop-in for the SAM 2 RoPE cross-attention (same parameter names). Once the RoPE'd memory holds
more tokens than the query (two or more memory frames), keys are rotated first and then keys and
values of every memory frame are 2x2 average-pooled (64x64 -> 32x32); object-pointer tokens are
kept whole. The two published variants compensate for the pooling differently and give different
numbers, so each is implemented literally (../shared/docs/MODELS.md section 6):
  efficient1: + 2*ln(2) on the pooled logits (each pooled key stands for 4), then softmax;
  efficient2: + 2*ln(2) on every component of the pooled key vectors, then ordinary SDPA.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from annotator.nn.rope import RoPEAttention, apply_rope

POOL = 2
LOG_POOL_AREA = 2 * math.log(POOL)  # ln 4


def _pool_frames(x: torch.Tensor, nq: int) -> torch.Tensor:
    """[B, heads, F*nq, d] (F square frames of nq tokens, row-major) -> [B, heads, F*nq/4, d]."""
    b, h, n, d = x.shape
    side = int(round(math.sqrt(nq)))
    frames = x.reshape(b, h * (n // nq), nq, d).transpose(-2, -1)  # [B, h*F, d, nq]
    grid = frames.reshape(b, -1, side, side)  # channels = h*F*d
    pooled = F.avg_pool2d(grid, POOL, stride=POOL)
    pooled = pooled.reshape(b, -1, d, nq // (POOL * POOL)).transpose(-2, -1)
    return pooled.reshape(b, h, -1, d)


class EfficientRoPEAttention(RoPEAttention):
    def __init__(self, variant: str, **kwargs):
        super().__init__(**kwargs)
        if variant not in ("efficient1", "efficient2"):
            raise KeyError(f"unknown pooled memory attention variant {variant!r}")
        self.variant = variant

    def forward(self, q, k, v, num_k_exclude_rope: int = 0, rope_k_repeat: int | None = None):
        q = self._heads(self.q_proj(q))
        k = self._heads(self.k_proj(k))
        v = self._heads(self.v_proj(v))
        nq = q.shape[-2]
        table = self._table(nq)
        q = apply_rope(q, table)
        n_rope = k.shape[-2] - num_k_exclude_rope
        k_mem = apply_rope(k[:, :, :n_rope], table, repeat=max(n_rope // nq, 1))
        k_ptr, v_mem, v_ptr = k[:, :, n_rope:], v[:, :, :n_rope], v[:, :, n_rope:]
        if n_rope <= nq:
            # a single memory frame: full attention, as the official code falls back to
            out = F.scaled_dot_product_attention(q, torch.cat([k_mem, k_ptr], 2), v)
        else:
            k_pool = _pool_frames(k_mem, nq)
            v_all = torch.cat([_pool_frames(v_mem, nq), v_ptr], dim=2)
            if self.variant == "efficient1":
                scale = 1.0 / math.sqrt(q.shape[-1])
                logits = torch.cat(
                    [q @ k_pool.transpose(-2, -1) * scale + LOG_POOL_AREA, q @ k_ptr.transpose(-2, -1) * scale],
                    dim=-1,
                )
                out = torch.softmax(logits, dim=-1) @ v_all
            else:
                k_all = torch.cat([k_pool + LOG_POOL_AREA, k_ptr], dim=2)
                out = F.scaled_dot_product_attention(q, k_all, v_all)
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))
