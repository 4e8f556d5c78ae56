"""TinyViT-5M image encoder of MobileSAM and TinySAM (MODELS.md §2.1), official names.

Quirks kept on purpose because the official outputs depend on them: per-head interleaved
qkv layout, windows padded with *un-normalised* zeros (they become LN(0) = beta inside the
attention and are not masked), depthwise `local_conv` without residual, PatchMerging with
stride 1 when the output has 320/448/576 channels, an unused classifier (`norm_head`,
`head`) kept only so the official checkpoint loads strictly. The attention bias is gathered
from `attention_biases` at forward time, so there is no stale eval-time cache to refresh.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.fuse import ConvBN, conv_act, conv_add, conv_rows, input_rows, is_fusable, linear_gelu
from annotator.nn.sam_heads import LayerNorm2d


STRIP_ROWS = 16
STRIP_MIN_PIXELS = 128 * 128


def fusable_strips(block, x, stride: int | None = 1) -> bool:
    """Row bands need the fused oneDNN path (plain 1x1/3x3 convs, channels-last batch 1)."""
    return (is_fusable(block.conv1, x) and x.is_contiguous(memory_format=torch.channels_last)
            and all(type(c) is nn.Conv2d for c in (block.conv1, block.conv2, block.conv3))
            and (stride is None or block.conv2.stride == (stride, stride)) and block.conv2.padding == (1, 1))


class MBConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, expand_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(in_ch * expand_ratio)
        self.conv1 = ConvBN(in_ch, hidden, 1)
        self.conv2 = ConvBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.conv3 = ConvBN(hidden, out_ch, 1)

    def forward(self, x):
        if x.shape[-2] > STRIP_ROWS and x.shape[-1] * x.shape[-2] >= STRIP_MIN_PIXELS and fusable_strips(self, x):
            return self._forward_strips(x)
        y = conv_act(self.conv1, x, "gelu")
        y = conv_act(self.conv2, y, "gelu")
        return F.gelu(conv_add(self.conv3, y, x))

    def _forward_strips(self, x):
        """The same block, a band of rows at a time: at 256x256 the 4x-expanded hidden map is
        64 MB and the three convs would each stream it through memory; a 16-row band (plus the
        3x3's halo rows, see `conv_rows`) stays in cache. Only rounding can differ."""
        h = x.shape[-2]
        out = torch.empty_like(x)
        for r0 in range(0, h, STRIP_ROWS):
            r1 = min(r0 + STRIP_ROWS, h)
            y = conv_rows(self.conv2, x, 0, h, r0, r1, "gelu", pre=lambda b: conv_act(self.conv1, b, "gelu"))
            out[:, :, r0:r1] = F.gelu(conv_add(self.conv3, y, x[:, :, r0:r1]))
        return out


class PatchMerging(nn.Module):
    """[B,C,H,W] -> tokens [B,N,out]."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        stride = 1 if out_dim in (320, 448, 576) else 2
        self.conv1 = ConvBN(dim, out_dim, 1)
        self.conv2 = ConvBN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = ConvBN(out_dim, out_dim, 1)

    def forward(self, x):
        if x.shape[-1] * x.shape[-2] >= STRIP_MIN_PIXELS * 4 and fusable_strips(self, x, stride=None):
            # 256x256 input: the 1x1 conv's output would be a 32 MB map; run in output row bands
            h, ho = x.shape[-2], (x.shape[-2] - 1) // self.conv2.stride[0] + 1
            bands = []
            for o0 in range(0, ho, STRIP_ROWS // 2):
                o1 = min(o0 + STRIP_ROWS // 2, ho)
                y = conv_rows(self.conv2, x, 0, h, o0, o1, "gelu", pre=lambda b: conv_act(self.conv1, b, "gelu"))
                bands.append(conv_act(self.conv3, y))
            return torch.cat(bands, dim=2)
        x = conv_act(self.conv1, x, "gelu")
        x = conv_act(self.conv2, x, "gelu")
        return conv_act(self.conv3, x)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, window: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window * window))
        r = torch.arange(window)
        ys, xs = torch.meshgrid(r, r, indexing="ij")
        ys, xs = ys.reshape(-1), xs.reshape(-1)
        idx = (ys[:, None] - ys[None, :]).abs() * window + (xs[:, None] - xs[None, :]).abs()
        self.register_buffer("attention_bias_idxs", idx, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, n, self.num_heads, 3, self.head_dim)
        q, k, v = qkv.permute(3, 0, 2, 1, 4).unbind(0)  # per-head [q|k|v] layout
        bias = self.attention_biases[:, self.attention_bias_idxs]
        if n >= 100:
            # large windows (14x14): the fused SDPA kernel is ~2.5x faster, but only with the
            # bias already broadcast over the windows (a [heads,n,n] mask takes a slow path)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.expand(b, -1, -1, -1))
        else:  # 7x7 windows: the explicit form is as fast
            attn = torch.matmul(q, k.transpose(-2, -1)).mul_(self.head_dim ** -0.5).add_(bias)
            out = torch.matmul(attn.softmax(dim=-1), v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(linear_gelu(self.fc1, self.norm(x)))


class TinyViTBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, window: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.window = window
        self.attn = Attention(dim, num_heads, window)
        self.local_conv = ConvBN(dim, dim, 3, 1, 1, groups=dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """x [B, H*W, C] tokens."""
        h, w = hw
        b, n, c = x.shape
        ws = self.window
        ph, pw = -(-h // ws) * ws, -(-w // ws) * ws
        nh, nw = ph // ws, pw // ws
        # one padded copy serves the window partition and, in place, the residual sum; padding
        # is un-normalised zeros (LN(0) = beta inside the attention, the official quirk)
        p = x.new_zeros(b, ph, pw, c) if (ph, pw) != (h, w) else x.reshape(b, h, w, c).clone()
        if (ph, pw) != (h, w):
            p[:, :h, :w] = x.reshape(b, h, w, c)
        win = p.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
        att = self.attn(win).view(b, nh, nw, ws, ws, c).transpose(2, 3)
        p.view(b, nh, ws, nw, ws, c).add_(att)
        t = p[:, :h, :w] if (ph, pw) != (h, w) else p
        # the map as channels-last [B,C,H,W] for the depthwise conv: no copy on the way in or out
        x = conv_act(self.local_conv, t.contiguous().permute(0, 3, 1, 2))
        x = x.permute(0, 2, 3, 1).reshape(b, n, c)
        return x + self.mlp(x)


class ConvLayer(nn.Module):
    def __init__(self, dim: int, depth: int, out_dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, dim) for _ in range(depth))
        self.downsample = PatchMerging(dim, out_dim)

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x)


class BasicLayer(nn.Module):
    def __init__(self, dim: int, depth: int, num_heads: int, window: int, out_dim: int | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TinyViTBlock(dim, num_heads, window) for _ in range(depth))
        self.downsample = PatchMerging(dim, out_dim) if out_dim is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B,C,H,W] -> [B,C',H',W']."""
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        for blk in self.blocks:
            t = blk(t, (h, w))
        x = t.view(b, h, w, c).permute(0, 3, 1, 2)  # channels-last map, no copy
        return self.downsample(x) if self.downsample is not None else x


class TinyViT(nn.Module):
    def __init__(self, embed_dims=(64, 128, 160, 320), depths=(2, 2, 6, 2), num_heads=(2, 4, 5, 10),
                 window_sizes=(7, 7, 14, 7), num_classes: int = 1000, out_chans: int = 256) -> None:
        super().__init__()
        e = embed_dims
        self.patch_embed = nn.Module()
        self.patch_embed.seq = nn.Sequential(ConvBN(3, e[0] // 2, 3, 2, 1), nn.GELU(), ConvBN(e[0] // 2, e[0], 3, 2, 1))
        layers = [ConvLayer(e[0], depths[0], e[1])]
        for i in range(1, len(e)):
            out = e[i + 1] if i + 1 < len(e) else None
            layers.append(BasicLayer(e[i], depths[i], num_heads[i], window_sizes[i], out))
        self.layers = nn.ModuleList(layers)
        # unused ImageNet classifier, present in the official checkpoints
        self.norm_head = nn.LayerNorm(e[-1])
        self.head = nn.Linear(e[-1], num_classes)
        self.neck = nn.Sequential(
            nn.Conv2d(e[-1], out_chans, 1, bias=False), LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False), LayerNorm2d(out_chans),
        )

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        """Two stride-2 3x3 convs (GELU between). At 1024 input the middle map is 32 MB, so it
        runs in bands of output rows whose input rows stay in cache."""
        seq = self.patch_embed.seq
        c1, c2 = seq[0], seq[2]
        if not (type(c1) is nn.Conv2d and type(c2) is nn.Conv2d and is_fusable(c1, x) and x.shape[-2] >= 256):
            return conv_act(c2, conv_act(c1, x, "gelu"))
        h = x.shape[-2]
        h1 = (h - 1) // c1.stride[0] + 1
        h2 = (h1 - 1) // c2.stride[0] + 1
        bands = []
        for o0 in range(0, h2, STRIP_ROWS):
            o1 = min(o0 + STRIP_ROWS, h2)
            r0, r1 = input_rows(c2, o0, o1, h1)  # rows of c1's output that c2 reads
            y = conv_rows(c1, x, 0, h, r0, r1, "gelu")
            bands.append(conv_rows(c2, y, r0, h1, o0, o1))
        return torch.cat(bands, dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # oneDNN's preferred layout
        x = self._stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.neck(x)
