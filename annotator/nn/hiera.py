"""Hiera trunk + FPN neck: the SAM 2.1 image encoder (`image_encoder.trunk.*`, `image_encoder.neck.*`).

Parameter names follow the official checkpoints so `load_state_dict(strict=True)` accepts them.
Numerics follow ../shared/docs/MODELS.md 5.1-5.2 (window schedule that lags one block, unmasked
zero padding of windows, q-pooling inside windows, pooled projection shortcut).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.rope import PositionEmbeddingSine


class Mlp(nn.Module):
    """`layers.0` -> act -> `layers.1` ... (the SAM2 MLP naming)."""

    def __init__(self, dims: Sequence[int], act: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = act()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


def _pool2x2(x: torch.Tensor) -> torch.Tensor:
    """Max-pool a channels-last map [B, H, W, C] by 2."""
    return F.max_pool2d(x.permute(0, 3, 1, 2), 2, 2).permute(0, 2, 3, 1)


def _to_windows(x: torch.Tensor, w: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> [B*nW, w, w, C]; zero padding on the bottom/right (it takes part in attention)."""
    b, h, wd, c = x.shape
    ph, pw = (w - h % w) % w, (w - wd % w) % w
    if ph or pw:
        x = F.pad(x, (0, 0, 0, pw, 0, ph))
    hp, wp = h + ph, wd + pw
    x = x.view(b, hp // w, w, wp // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w, w, c), (hp, wp)


def _from_windows(x: torch.Tensor, w: int, padded: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    hp, wp = padded
    b = x.shape[0] // ((hp // w) * (wp // w))
    x = x.view(b, hp // w, wp // w, w, w, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, : size[0], : size[1]].contiguous()


class HieraAttention(nn.Module):
    def __init__(self, dim: int, dim_out: int, heads: int, q_pool: bool):
        super().__init__()
        self.heads = heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, h * w, 3, self.heads, -1).unbind(2)
        if self.q_pool:
            q = _pool2x2(q.reshape(b, h, w, -1))
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.heads, -1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(out.transpose(1, 2).reshape(b, h, w, -1))


class HieraBlock(nn.Module):
    def __init__(self, dim: int, dim_out: int, heads: int, window: int, q_pool: bool, mlp_ratio: float = 4.0):
        super().__init__()
        self.dim, self.dim_out, self.window, self.q_pool = dim, dim_out, window, q_pool
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = HieraAttention(dim, dim_out, heads, q_pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = Mlp([dim_out, int(dim_out * mlp_ratio), dim_out], act=nn.GELU)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            # the shortcut is projected from the *normalised* input, then pooled like q
            shortcut = self.proj(x)
            if self.q_pool:
                shortcut = _pool2x2(shortcut)
        w = self.window
        if w > 0:
            x, padded = _to_windows(x, w)
        x = self.attn(x)
        if w > 0:
            size = shortcut.shape[1:3]
            if self.q_pool:
                w //= 2
                padded = (size[0] + (w - size[0] % w) % w, size[1] + (w - size[1] % w) % w)
            x = _from_windows(x, w, padded, size)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x):
        return self.proj(x).permute(0, 2, 3, 1)


class Hiera(nn.Module):
    """Hierarchical ViT trunk; returns the four stage outputs [B, C_i, H_i, W_i], stride 4 first."""

    def __init__(
        self,
        embed_dim: int = 96,
        num_heads: int = 1,
        stages: Sequence[int] = (1, 2, 7, 2),
        global_att_blocks: Sequence[int] = (5, 7, 9),
        window_spec: Sequence[int] = (8, 4, 14, 7),
        window_pos_embed_bkg_spatial_size: Sequence[int] = (7, 7),
        q_pool: int = 3,
    ):
        super().__init__()
        self.stage_ends = [sum(stages[: i + 1]) - 1 for i in range(len(stages))]
        pool_blocks = [e + 1 for e in self.stage_ends[:-1]][:q_pool]
        self.patch_embed = PatchEmbed(embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, embed_dim, window_spec[0], window_spec[0]))
        self.blocks = nn.ModuleList()
        dim, heads, stage = embed_dim, num_heads, 0
        for i in range(sum(stages)):
            # the window lags one block: a stage's first (pooling) block keeps the previous window
            window = 0 if i in global_att_blocks else window_spec[stage]
            dim_out = dim
            if i - 1 in self.stage_ends:
                dim_out, heads, stage = dim * 2, heads * 2, stage + 1
            self.blocks.append(HieraBlock(dim, dim_out, heads, window, q_pool=i in pool_blocks))
            dim = dim_out
        self.channel_list = [self.blocks[e].dim_out for e in self.stage_ends[::-1]]

    def _pos_embed(self, h: int, w: int) -> torch.Tensor:
        pe = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
        win = self.pos_embed_window
        pe = pe + win.tile([1, 1, h // win.shape[2], w // win.shape[3]])
        return pe.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(x)
        x = x + self._pos_embed(x.shape[1], x.shape[2])
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in self.stage_ends:
                outs.append(x.permute(0, 3, 1, 2))
        return outs


class _Conv(nn.Module):
    """Holds one 1x1 conv under the name `conv` (official layout `neck.convs.k.conv`)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class FpnNeck(nn.Module):
    """Lateral 1x1 convs (convs.0 takes the coarsest map) with a top-down path on `fpn_top_down_levels`."""

    def __init__(
        self,
        d_model: int = 256,
        backbone_channel_list: Sequence[int] = (768, 384, 192, 96),
        fpn_top_down_levels: Sequence[int] = (2, 3),
        fpn_interp_model: str = "nearest",
    ):
        super().__init__()
        self.convs = nn.ModuleList(_Conv(c, d_model) for c in backbone_channel_list)
        self.top_down = set(fpn_top_down_levels)
        self.interp = fpn_interp_model
        self.position_encoding = PositionEmbeddingSine(d_model)

    def forward(self, xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        n = len(self.convs) - 1
        out: list = [None] * (n + 1)
        pos: list = [None] * (n + 1)
        prev = None
        for i in range(n, -1, -1):
            lateral = self.convs[n - i](xs[i])
            if i in self.top_down and prev is not None:
                up = F.interpolate(
                    prev.float(), scale_factor=2.0, mode=self.interp,
                    align_corners=None if self.interp == "nearest" else False,
                )
                prev = lateral + up
            else:
                prev = lateral
            out[i] = prev
            pos[i] = self.position_encoding(prev).to(prev.dtype)
        return out, pos


class ImageEncoder(nn.Module):
    """trunk + neck; `scalp` drops the coarsest levels. Returns the official output dict."""

    def __init__(self, trunk: nn.Module, neck: nn.Module, scalp: int = 1):
        super().__init__()
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp

    def forward(self, x: torch.Tensor) -> dict:
        feats, pos = self.neck(self.trunk(x))
        if self.scalp > 0:
            feats, pos = feats[: -self.scalp], pos[: -self.scalp]
        return {"vision_features": feats[-1], "vision_pos_enc": pos, "backbone_fpn": feats}


def build_encoder(arch: dict) -> ImageEncoder:
    h = dict(arch.get("hiera", {}))
    trunk = Hiera(
        embed_dim=h.get("embed_dim", 96),
        num_heads=h.get("num_heads", 1),
        stages=h.get("stages", (1, 2, 7, 2)),
        global_att_blocks=h.get("global_att_blocks", (5, 7, 9)),
        window_spec=h.get("window_spec", (8, 4, 14, 7)),
        window_pos_embed_bkg_spatial_size=h.get("window_pos_embed_bkg_spatial_size", (7, 7)),
    )
    n = dict(arch.get("neck", {}))
    neck = FpnNeck(
        d_model=n.get("d_model", 256),
        backbone_channel_list=n.get("backbone_channel_list", trunk.channel_list),
        fpn_top_down_levels=n.get("fpn_top_down_levels", (2, 3)),
        fpn_interp_model=n.get("fpn_interp_model", "nearest"),
    )
    return ImageEncoder(trunk, neck, scalp=n.get("scalp", 1))
