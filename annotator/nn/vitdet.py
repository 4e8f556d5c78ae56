"""EfficientTAM image encoder: plain windowed ViT trunk + single-level ViTDet neck.

State-dict names match the official checkpoints under `image_encoder.` (`trunk.*`, `neck.*`).
`build_encoder(arch)` returns a module whose forward gives the same dict as the SAM 2
Hiera+FPN encoder (`vision_features`, `vision_pos_enc`, `backbone_fpn`), with one level.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.rope import PositionEmbeddingSine
from annotator.nn.sam_heads import LayerNorm2d


class _Mlp(nn.Module):
    """Two linear layers named `layers.0/1` (official SAM 2 MLP naming), GELU between."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, hidden), nn.Linear(hidden, dim)])

    def forward(self, x):
        return self.layers[1](F.gelu(self.layers[0](x)))


class _Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # x: [B, H, W, C]
        b, h, w, c = x.shape
        # qkv layout is (3, heads, head_dim) along the output features
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.permute(0, 2, 1, 3).reshape(b, h, w, c)
        return self.proj(out)


def _window_partition(x, ws: int):
    """[B,H,W,C] -> [B*nw, ws, ws, C]; zero-pads to a multiple of ws (padding is NOT masked,
    as in the official code: the zero tokens take part in the softmax)."""
    b, h, w, c = x.shape
    ph, pw = (ws - h % ws) % ws, (ws - w % ws) % ws
    if ph or pw:
        x = F.pad(x, (0, 0, 0, pw, 0, ph))
    hp, wp = h + ph, w + pw
    x = x.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws, ws, c), (hp, wp)


def _window_unpartition(x, ws: int, pad_hw, hw):
    hp, wp = pad_hw
    h, w = hw
    b = x.shape[0] // ((hp // ws) * (wp // ws))
    x = x.reshape(b, hp // ws, wp // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, hp, wp, -1)[:, :h, :w, :]


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, window_size: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))
        self.window_size = window_size

    def forward(self, x):
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            hw = x.shape[1:3]
            x, pad_hw = _window_partition(x, self.window_size)
            x = _window_unpartition(self.attn(x), self.window_size, pad_hw, hw)
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).permute(0, 2, 3, 1)  # BHWC


class ViT(nn.Module):
    """Plain ViT (ViTDet style) with absolute position embedding from 224 pre-training."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        depth: int = 12,
        patch_size: int = 16,
        mlp_ratio: float = 4.0,
        window_size: int = 14,
        global_blocks=(2, 5, 8, 11),
        pretrain_img_size: int = 224,
    ):
        super().__init__()
        self.patch_embed = _PatchEmbed(patch_size, embed_dim)
        n = (pretrain_img_size // patch_size) ** 2
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, embed_dim))  # +1: cls token slot
        self.blocks = nn.ModuleList(
            _Block(embed_dim, num_heads, mlp_ratio, 0 if i in global_blocks else window_size)
            for i in range(depth)
        )
        self.channel_list = [embed_dim]

    def _abs_pos(self, h: int, w: int):
        pos = self.pos_embed[:, 1:]  # drop the cls token entry
        size = int(math.sqrt(pos.shape[1]))
        pos = pos.reshape(1, size, size, -1)
        if (size, size) == (h, w):
            return pos
        # bicubic like the official code on CPU/CUDA (it switches to bilinear only on MPS)
        pos = F.interpolate(pos.permute(0, 3, 1, 2), size=(h, w), mode="bicubic", align_corners=False)
        return pos.permute(0, 2, 3, 1)

    def forward(self, x):
        x = self.patch_embed(x)
        x = x + self._abs_pos(x.shape[1], x.shape[2])
        for blk in self.blocks:
            x = blk(x)
        return [x.permute(0, 3, 1, 2)]


class ViTDetNeck(nn.Module):
    """One level: conv1x1 (no bias) -> LN2d -> conv3x3 (no bias) -> LN2d, as `convs.0.*`."""

    def __init__(self, in_dim: int, d_model: int = 256):
        super().__init__()
        level = nn.Sequential()
        level.add_module("conv_1x1", nn.Conv2d(in_dim, d_model, 1, bias=False))
        level.add_module("norm_0", LayerNorm2d(d_model))
        level.add_module("conv_3x3", nn.Conv2d(d_model, d_model, 3, padding=1, bias=False))
        level.add_module("norm_1", LayerNorm2d(d_model))
        self.convs = nn.ModuleList([level])
        self.position_encoding = PositionEmbeddingSine(d_model)

    def forward(self, xs):
        out = self.convs[0](xs[0])
        pos = self.position_encoding(out).to(out.dtype)
        return [out], [pos]


class ViTDetImageEncoder(nn.Module):
    def __init__(self, trunk: ViT, neck: ViTDetNeck):
        super().__init__()
        self.trunk = trunk
        self.neck = neck

    def forward(self, x):
        feats, pos = self.neck(self.trunk(x))
        return {"vision_features": feats[-1], "vision_pos_enc": pos, "backbone_fpn": feats}


# EfficientTAM sizes (official configs efficienttam_{ti,s}*.yaml)
SIZES = {"ti": (192, 3), "s": (384, 6)}


def build_encoder(arch: dict) -> ViTDetImageEncoder:
    """arch["vitdet"] keys: `embed_dim`, `num_heads` (or `size`: ti|s); optional `depth` (12),
    `patch_size` (16), `window_size` (14), `global_blocks` ([2,5,8,11]), `pretrain_img_size` (224),
    `d_model` (256)."""
    enc = arch.get("vitdet", arch)
    if "embed_dim" in enc:
        dim, heads = int(enc["embed_dim"]), int(enc["num_heads"])
    else:
        dim, heads = SIZES[enc["size"]]
    trunk = ViT(
        embed_dim=dim,
        num_heads=heads,
        depth=int(enc.get("depth", 12)),
        patch_size=int(enc.get("patch_size", 16)),
        window_size=int(enc.get("window_size", 14)),
        global_blocks=tuple(enc.get("global_blocks", (2, 5, 8, 11))),
        pretrain_img_size=int(enc.get("pretrain_img_size", 224)),
    )
    return ViTDetImageEncoder(trunk, ViTDetNeck(dim, int(enc.get("d_model", 256))))
