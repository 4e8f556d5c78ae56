"""SAM1-family model (SAM ViT-B/L/H, MobileSAM, TinySAM, EdgeSAM): encoder + SAM1 heads.

`build(arch)` reads the `arch:` block of a model card (models/CARDS.md). The module tree is
`image_encoder`, `prompt_encoder`, `mask_decoder`, exactly as in the official checkpoints.
"""
from __future__ import annotations

from torch import nn

from annotator.nn.factory import VIT_SIZES
from annotator.nn.sam_heads import MaskDecoder, PromptEncoder


class Sam(nn.Module):
    def __init__(self, image_encoder: nn.Module, image_size: int = 1024, embed_dim: int = 256,
                 patch: int = 16) -> None:
        super().__init__()
        grid = image_size // patch
        self.image_encoder = image_encoder
        self.prompt_encoder = PromptEncoder(embed_dim, (grid, grid), (image_size, image_size), 16, box_rule="sam1")
        self.mask_decoder = MaskDecoder(embed_dim, num_multimask_outputs=3, mlp_naming="lin")
        self.image_size = image_size




def build_encoder(arch: dict) -> nn.Module:
    enc = arch.get("encoder")
    image_size = int(arch.get("image_size", 1024))
    if enc == "tiny_vit":
        from annotator.nn.tiny_vit import TinyViT

        return TinyViT(
            embed_dims=tuple(arch.get("embed_dims", (64, 128, 160, 320))),
            depths=tuple(arch.get("depths", (2, 2, 6, 2))),
            num_heads=tuple(arch.get("num_heads", (2, 4, 5, 10))),
            window_sizes=tuple(arch.get("window_sizes", (7, 7, 14, 7))),
        )
    if enc == "repvit_m1":
        from annotator.nn.repvit import EdgeSamRepViT

        return EdgeSamRepViT(upsample_mode=arch.get("upsample_mode", "bicubic"))
    if enc == "vit":
        from annotator.nn.vit_sam import ImageEncoderViT

        size = arch.get("size")
        if size in VIT_SIZES:
            embed, depth, heads, glob = VIT_SIZES[size]
        else:
            embed, depth, heads, glob = arch["embed_dim"], arch["depth"], arch["num_heads"], arch["global_attn_indexes"]
        return ImageEncoderViT(img_size=image_size, embed_dim=embed, depth=depth, num_heads=heads,
                               global_attn_indexes=tuple(glob), window_size=int(arch.get("window_size", 14)))
    raise KeyError(f"unknown SAM encoder {enc!r}")


def build(arch: dict) -> Sam:
    image_size = int(arch.get("image_size", 1024))
    return Sam(build_encoder(arch), image_size=image_size)
