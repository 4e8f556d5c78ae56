"""SAM 2 memory path: memory attention (every variant) and memory encoder; the shared
primitives (sine encodings, 2-D RoPE, RoPE attention) are in rope.py.

Names match the official checkpoints (`memory_attention.*`, `memory_encoder.*`). The math follows
../shared/docs/MODELS.md 5.2, 5.4, 5.5 and pitfall 13.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.efficient_memory import EfficientRoPEAttention
from annotator.nn.perceiver import RoPEAttentionV2
from annotator.nn.rope import (  # noqa: F401  (PositionEmbeddingSine, rope_table, apply_rope: re-exported)
    PositionEmbeddingSine,
    RoPEAttention,
    apply_rope,
    rope_table,
    sine_pe_1d,
)


# ---------------------------------------------------------------------------------------------
# memory attention


class MemoryAttentionLayer(nn.Module):
    """Pre-norm: RoPE self-attention, cross-attention to memories (pos on keys only), FFN."""

    def __init__(self, cross_attn: nn.Module, d_model: int = 256, dim_feedforward: int = 2048):
        super().__init__()
        self.self_attn = RoPEAttention(d_model, 1)
        self.cross_attn_image = cross_attn
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(self, x, memory, memory_pos, num_k_exclude_rope: int, num_spatial_mem: int):
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y)
        y = self.norm2(x)
        x = x + self.cross_attn_image(
            y, memory + memory_pos, memory,
            num_k_exclude_rope=num_k_exclude_rope, rope_k_repeat=num_spatial_mem,
        )
        y = self.norm3(x)
        return x + self.linear2(F.relu(self.linear1(y)))


class MemoryAttention(nn.Module):
    def __init__(self, layers: list[nn.Module], d_model: int = 256):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, curr, curr_pos, memory, memory_pos, num_obj_ptr_tokens: int = 0,
                num_spatial_mem: int = 1):
        """curr/curr_pos [B, HW, C]; memory/memory_pos [B, M, mem_dim]; returns [B, HW, C]."""
        x = curr + 0.1 * curr_pos
        for layer in self.layers:
            x = layer(x, memory, memory_pos, num_obj_ptr_tokens, num_spatial_mem)
        return self.norm(x)


def build_memory_attention(arch: dict) -> MemoryAttention:
    ma = dict(arch.get("memory_attention", {}))
    variant = ma.get("variant", "rope")
    d = ma.get("d_model", 256)
    kv = ma.get("kv_in_dim", arch.get("mem_dim", 64))
    s = arch.get("image_size", 1024) // 16
    layers = []
    for _ in range(ma.get("num_layers", 4)):
        if variant == "rope":
            cross = RoPEAttention(d, 1, kv_in_dim=kv, feat_sizes=(s, s))
        elif variant in ("efficient1", "efficient2"):
            cross = EfficientRoPEAttention(variant, embedding_dim=d, num_heads=1, kv_in_dim=kv,
                                           downsample_rate=1, rope_theta=10000.0, feat_sizes=(s, s))
        elif variant == "perceiver":
            cross = RoPEAttentionV2(q_sizes=(s, s), k_sizes=(16, 16), kv_in_dim=kv)
        else:
            raise KeyError(f"unknown memory attention variant {variant!r}")
        layers.append(MemoryAttentionLayer(cross, d, ma.get("dim_feedforward", 2048)))
    return MemoryAttention(layers, d)


# ---------------------------------------------------------------------------------------------
# memory encoder


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dim of [B, C, H, W]."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class MaskDownSampler(nn.Module):
    """Four (conv k3 s2 p1, LN2d, GELU) stages 1->4->16->64->256 channels, then a 1x1 conv."""

    def __init__(self, embed_dim: int = 256, stages: int = 4):
        super().__init__()
        mods: list[nn.Module] = []
        cin = 1
        for _ in range(stages):
            cout = cin * 4
            mods += [nn.Conv2d(cin, cout, 3, 2, 1), LayerNorm2d(cout), nn.GELU()]
            cin = cout
        mods.append(nn.Conv2d(cin, embed_dim, 1))
        self.encoder = nn.Sequential(*mods)

    def forward(self, x):
        return self.encoder(x)


class CXBlock(nn.Module):
    """ConvNeXt block: dw 7x7, LN2d, Linear x4, GELU, Linear, layer scale, residual."""

    def __init__(self, dim: int = 256):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x):
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(self, dim: int = 256, num_layers: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(CXBlock(dim) for _ in range(num_layers))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """(frame features, mask in [-10, 10] scale) -> memory features [B, out_dim, H, W] + sine pos."""

    def __init__(self, out_dim: int = 64, in_dim: int = 256):
        super().__init__()
        self.mask_downsampler = MaskDownSampler(in_dim)
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, 1)
        self.fuser = Fuser(in_dim, 2)
        self.out_proj = nn.Conv2d(in_dim, out_dim, 1)
        self.position_encoding = PositionEmbeddingSine(out_dim)

    def forward(self, pix_feat: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pix_feat_proj(pix_feat) + self.mask_downsampler(mask)
        x = self.out_proj(self.fuser(x))
        return x, self.position_encoding(x).to(x.dtype)
