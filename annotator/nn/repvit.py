"""RepViT-M1: EdgeSAM's image encoder, and the same network under timm names for EdgeTAM.

One set of block classes, two module layouts (MODELS.md §4.1 and §7.1):

* `EdgeSamRepViT` - EdgeSAM names: `features.0` stem, `features.1..26` blocks, stage fusion
  (`fuse_stage2` + bicubic-upsampled `fuse_stage3`) and a SAM neck -> [B,256,64,64].
* `RepViTM1Timm` - timm `repvit_m1` features_only names (`stem.conv1/conv2`,
  `stages_i.downsample.{pre_block,spatial_downsample,channel_downsample,ffn}`,
  `stages_i.blocks.j`) returning the four stage outputs (strides 4/8/16/32, 48/96/192/384
  channels). EdgeTAM uses it as `image_encoder.trunk.body`.

The blocks take `timm_names=True|False`; only where sub-modules hang differs, the maths is
shared (`RepViTBlock.forward`, `Downsample.forward`). Name map between the two layouts:

    EdgeSAM features.N                       timm (EdgeTAM trunk.body)
    features.0.0 / features.0.2              stem.conv1 / stem.conv2
    features.1-2                             stages_0.blocks.0-1
    features.3 / 7 / 23                      stages_{1,2,3}.downsample.pre_block
    features.4 / 8 / 24 token_mixer.0        stages_{1,2,3}.downsample.spatial_downsample
                        token_mixer.2        ... .channel_downsample
                        channel_mixer.m.0/2  ... .ffn.conv1 / ffn.conv2
    features.5-6, 9-22, 25-26                stages_1.blocks.0-1, stages_2.blocks.0-13, stages_3.blocks.0-1
    (block) token_mixer.0 / token_mixer.1    token_mixer / se
    (block) channel_mixer.m.0 / m.2          channel_mixer.conv1 / conv2
`edgesam_key_to_timm` implements it (e.g. to load an EdgeSAM encoder into the timm layout).

Stage taps differ: EdgeSAM taps *after* the pre-blocks (features 3, 7, 23, 26), timm after each
stage's last block (features 2, 6, 22, 26). BatchNorms run in eval mode on stored statistics;
`annotator.nn.fuse.reparameterize` folds them and merges the RepVGG branches after loading.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.fuse import ConvBN, conv_act, conv_add, fold_conv_bn, merge_repvgg_dw, upsample2x_bicubic
from annotator.nn.sam_heads import LayerNorm2d

M1_DIMS = (48, 96, 192, 384)
M1_DEPTHS = (2, 2, 14, 2)  # timm blocks per stage (pre-blocks not counted)


def _se_channels(c: int) -> int:
    # timm make_divisible(c * 0.25, 8, round_limit=0)
    v = c * 0.25
    return max(8, int(v + 4) // 8 * 8)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        rd = _se_channels(c)
        self.fc1 = nn.Conv2d(c, rd, 1)
        self.fc2 = nn.Conv2d(rd, c, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class RepVggDw(nn.Module):
    """dw3x3-BN + dw1x1-BN + identity (timm 'legacy': no BN after the sum)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = ConvBN(c, c, 3, 1, 1, groups=c)
        self.conv1 = ConvBN(c, c, 1, 1, 0, groups=c)

    def forward(self, x):
        return self.conv(x) + self.conv1(x) + x

    def reparameterized(self) -> nn.Conv2d:
        return merge_repvgg_dw(fold_conv_bn(self.conv.c, self.conv.bn), fold_conv_bn(self.conv1.c, self.conv1.bn))


class _Residual(nn.Module):
    """EdgeSAM's `Residual` wrapper (child `m`); the residual add is done by the block."""

    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m


class _ConvMlp(nn.Module):
    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(c, hidden)
        self.conv2 = ConvBN(hidden, c)


def _mlp_parts(timm_names: bool, c: int) -> nn.Module:
    if timm_names:
        return _ConvMlp(c, 2 * c)
    return _Residual(nn.Sequential(ConvBN(c, 2 * c), nn.GELU(), ConvBN(2 * c, c)))


def _mlp_convs(mod: nn.Module):
    if isinstance(mod, _ConvMlp):
        return mod.conv1, mod.conv2
    return mod.m[0], mod.m[2]


class RepViTBlock(nn.Module):
    """Stride-1 block: y = se(repvgg_dw(x)); out = y + conv2(gelu(conv1(y)))."""

    def __init__(self, c: int, use_se: bool, timm_names: bool = False) -> None:
        super().__init__()
        se = SqueezeExcite(c) if use_se else nn.Identity()
        if timm_names:
            self.token_mixer = RepVggDw(c)
            self.se = se
        else:
            self.token_mixer = nn.Sequential(RepVggDw(c), se)
        self.channel_mixer = _mlp_parts(timm_names, c)
        self.timm_names = timm_names

    def forward(self, x):
        if self.timm_names:
            dw, se = self.token_mixer, self.se
        else:
            dw, se = self.token_mixer[0], self.token_mixer[1]
        y = se(conv_act(dw, x))
        c1, c2 = _mlp_convs(self.channel_mixer)
        return conv_add(c2, conv_act(c1, y, "gelu"), y)


class Downsample(nn.Module):
    """Stride-2 block: dw3x3 s2 -> 1x1 in->out, then a residual conv MLP. In timm layout it also
    owns the stage's pre-block (run first)."""

    def __init__(self, cin: int, cout: int, timm_names: bool = False) -> None:
        super().__init__()
        self.timm_names = timm_names
        if timm_names:
            self.pre_block = RepViTBlock(cin, use_se=False, timm_names=True)
            self.spatial_downsample = ConvBN(cin, cin, 3, 2, 1, groups=cin)
            self.channel_downsample = ConvBN(cin, cout, 1)
            self.ffn = _ConvMlp(cout, 2 * cout)
        else:
            self.token_mixer = nn.Sequential(ConvBN(cin, cin, 3, 2, 1, groups=cin), nn.Identity(), ConvBN(cin, cout, 1))
            self.channel_mixer = _mlp_parts(False, cout)

    def forward(self, x):
        if self.timm_names:
            x = self.pre_block(x)
            x = conv_act(self.channel_downsample, conv_act(self.spatial_downsample, x))
            c1, c2 = self.ffn.conv1, self.ffn.conv2
        else:
            x = conv_act(self.token_mixer[2], conv_act(self.token_mixer[0], x))
            c1, c2 = _mlp_convs(self.channel_mixer)
        return conv_add(c2, conv_act(c1, x, "gelu"), x)


class _TimmStem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvBN(3, 24, 3, 2, 1)
        self.conv2 = ConvBN(24, 48, 3, 2, 1)

    def forward(self, x):
        return conv_act(self.conv2, conv_act(self.conv1, x, "gelu"))


def _stem(timm_names: bool) -> nn.Module:
    if timm_names:
        return _TimmStem()
    return nn.Sequential(ConvBN(3, 24, 3, 2, 1), nn.GELU(), ConvBN(24, 48, 3, 2, 1))


class _FuseUp(nn.Module):
    def __init__(self, cin: int, cout: int, mode: str) -> None:
        super().__init__()
        self.op_list = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.Upsample(scale_factor=2, mode=mode))

    def forward(self, x):
        conv, up = self.op_list
        y = conv_act(conv, x)
        if up.mode == "bicubic" and float(up.scale_factor) == 2.0 and not up.align_corners:
            return upsample2x_bicubic(y)  # torch's bicubic kernel is ~10x slower here
        return up(y)


class EdgeSamRepViT(nn.Module):
    """EdgeSAM encoder: RepViT-M1 + stage fusion + neck -> [B,256,H/16,W/16]."""

    TAPS = (3, 7, 23, 26)  # features index after which each stage output is taken

    def __init__(self, upsample_mode: str = "bicubic", out_chans: int = 256) -> None:
        super().__init__()
        feats: list[nn.Module] = [_stem(False)]
        for si, (c, depth) in enumerate(zip(M1_DIMS, M1_DEPTHS)):
            if si > 0:
                feats.append(RepViTBlock(M1_DIMS[si - 1], use_se=False))  # pre-block
                feats.append(Downsample(M1_DIMS[si - 1], c))
            feats.extend(RepViTBlock(c, use_se=(j % 2 == 0)) for j in range(depth))
        self.features = nn.Sequential(*feats)
        self.fuse_stage2 = nn.Conv2d(M1_DIMS[2], out_chans, 1, bias=False)
        self.fuse_stage3 = _FuseUp(M1_DIMS[3], out_chans, upsample_mode)
        self.neck = nn.Sequential(
            nn.Conv2d(out_chans, out_chans, 1, bias=False), LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False), LayerNorm2d(out_chans),
        )

    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)  # oneDNN's preferred layout
        stem, stage2 = self.features[0], None
        x = conv_act(stem[2], conv_act(stem[0], x, "gelu"))
        for i, f in enumerate(self.features):
            if i == 0:
                continue
            x = f(x)
            if i == self.TAPS[2]:
                stage2 = x
        n = self.neck
        x = conv_add(self.fuse_stage2, stage2, self.fuse_stage3(x))
        x = n[1](conv_act(n[0], x))
        return n[3](conv_act(n[2], x))


class _Stage(nn.Module):
    def __init__(self, cin: int, c: int, depth: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = Downsample(cin, c, timm_names=True) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*(RepViTBlock(c, use_se=(j % 2 == 0), timm_names=True) for j in range(depth)))

    def forward(self, x):
        return self.blocks(self.downsample(x))


class RepViTM1Timm(nn.Module):
    """timm `repvit_m1` (legacy) features_only layout; forward -> [s4, s8, s16, s32] maps."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _stem(True)
        for si, (c, depth) in enumerate(zip(M1_DIMS, M1_DEPTHS)):
            cin = M1_DIMS[si - 1] if si else c
            setattr(self, f"stages_{si}", _Stage(cin, c, depth, downsample=si > 0))

    def forward(self, x) -> list[torch.Tensor]:
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        outs = []
        for si in range(len(M1_DIMS)):
            x = getattr(self, f"stages_{si}")(x)
            outs.append(x)
        return outs


def _features_index_map() -> dict[int, str]:
    """EdgeSAM features.N -> timm prefix (without the trailing dot)."""
    m = {}
    n = 1
    for si, depth in enumerate(M1_DEPTHS):
        if si > 0:
            m[n] = f"stages_{si}.downsample.pre_block"
            m[n + 1] = f"stages_{si}.downsample"
            n += 2
        for j in range(depth):
            m[n] = f"stages_{si}.blocks.{j}"
            n += 1
    return m


_FEATURES_MAP = _features_index_map()


def edgesam_key_to_timm(key: str) -> str | None:
    """Map an EdgeSAM encoder key (relative to `image_encoder.`) to the timm layout;
    None for keys timm has no counterpart for (fusion, neck)."""
    if key.startswith("features.0."):
        return re.sub(r"^features\.0\.(0|2)\.", lambda mm: "stem.conv1." if mm.group(1) == "0" else "stem.conv2.", key)
    mm = re.match(r"^features\.(\d+)\.(.*)$", key)
    if not mm:
        return None
    prefix, rest = _FEATURES_MAP[int(mm.group(1))], mm.group(2)
    if prefix.endswith(".downsample"):
        rest = (rest.replace("token_mixer.0.", "spatial_downsample.").replace("token_mixer.2.", "channel_downsample.")
                .replace("channel_mixer.m.0.", "ffn.conv1.").replace("channel_mixer.m.2.", "ffn.conv2."))
    else:
        rest = (rest.replace("token_mixer.0.", "token_mixer.").replace("token_mixer.1.", "se.")
                .replace("channel_mixer.m.0.", "channel_mixer.conv1.").replace("channel_mixer.m.2.", "channel_mixer.conv2."))
    return f"{prefix}.{rest}"
