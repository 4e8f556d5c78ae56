"""EdgeTAM image encoder: timm-named RepViT-M1 trunk (`trunk.body.*`) + the SAM 2 FPN neck.

The RepViT network itself lives in annotator/nn/repvit.py (shared with EdgeSAM, mapped to timm's
names there); this module only assembles it the way EdgeTAM's checkpoint expects
(../shared/docs/MODELS.md 7.1): taps after each timm stage (strides 4/8/16/32, 48/96/192/384 ch),
FPN with top-down levels 2,3 (nearest), scalp 1 -> [256x256, 128x128, 64x64] x 256.
"""
from __future__ import annotations

from torch import nn

from annotator.nn.hiera import FpnNeck, ImageEncoder
from annotator.nn.repvit import RepViTM1Timm


class TimmTrunk(nn.Module):
    """Holds the features-only network under `body` (timm FeatureListNet naming)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x)  # stride 4 first, as the FPN neck expects


def build_encoder(arch: dict) -> ImageEncoder:
    n = dict(arch.get("neck", {}))
    neck = FpnNeck(
        d_model=int(n.get("d_model", 256)),
        backbone_channel_list=n.get("backbone_channel_list", (384, 192, 96, 48)),
        fpn_top_down_levels=n.get("fpn_top_down_levels", (2, 3)),
        fpn_interp_model=n.get("fpn_interp_model", "nearest"),
    )
    return ImageEncoder(TimmTrunk(RepViTM1Timm()), neck, scalp=int(n.get("scalp", 1)))
