"""SAM 2 memory path: sine position encodings, 2-D RoPE, memory attention and memory encoder.

Names match the official checkpoints (`memory_attention.*`, `memory_encoder.*`). The math follows
../shared/docs/MODELS.md 5.2, 5.4, 5.5 and pitfall 13.
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


# ---------------------------------------------------------------------------------------------
# memory attention


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
            from annotator.nn.efficient_memory import EfficientRoPEAttention

            cross = EfficientRoPEAttention(variant, embedding_dim=d, num_heads=1, kv_in_dim=kv,
                                           downsample_rate=1, rope_theta=10000.0, feat_sizes=(s, s))
        elif variant == "perceiver":
            from annotator.nn.perceiver import RoPEAttentionV2

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
