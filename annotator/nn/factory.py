"""Build an nn.Module for a model card, dispatching on the card's `arch.family`.

Each family module exposes `build(arch: dict) -> torch.nn.Module` returning the model with
the official state-dict layout (so `load_state_dict(strict=True)` accepts the official file).
Torch is imported only when a model is built.
"""
from __future__ import annotations

import importlib
import importlib.util

# family -> module implementing build(arch)
FAMILY_MODULES = {
    "sam": "annotator.nn.sam",  # SAM ViT-B/L/H, MobileSAM, TinySAM, EdgeSAM (SAM1 heads)
    "sam2": "annotator.nn.sam2",  # SAM 2.1 / EfficientTAM / EdgeTAM (SAM2 heads + memory)
    "clip": "annotator.nn.clip",  # CLIP image + text towers (labels and text prompts, not masks)
}


# What each family's build() can make, answered without importing torch: the model list asks
# this for every card, and importing torch plus building each model on the meta device took
# seconds. The builders dispatch on these same names and raise for any other.
ENCODERS = {
    "sam": ("tiny_vit", "repvit_m1", "vit"),
    "sam2": ("hiera", "vitdet", "repvit_m1_timm"),
}
DEFAULT_ENCODER = {"sam2": "hiera"}
VIT_SIZES = {
    # SAM ViT image encoders: embed, depth, heads, global attention blocks
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
}
VIT_FIELDS = ("embed_dim", "depth", "num_heads", "global_attn_indexes")


def supports(arch: dict) -> bool | None:
    """Whether build(arch) can make this architecture, without torch; None for a family that
    has no such answer (the registry then builds it on the meta device to find out)."""
    family = arch.get("family")
    if family == "clip":
        return isinstance(arch.get("vision"), dict) and isinstance(arch.get("text"), dict) and "embed_dim" in arch
    if family not in ENCODERS:
        return None
    enc = arch.get("encoder", DEFAULT_ENCODER.get(family))
    if enc not in ENCODERS[family]:
        return False
    if family == "sam" and enc == "vit":
        return arch.get("size") in VIT_SIZES or all(k in arch for k in VIT_FIELDS)
    return True


def family_implemented(family: str) -> bool:
    mod = FAMILY_MODULES.get(family)
    return mod is not None and importlib.util.find_spec(mod) is not None


def build(arch: dict):
    family = arch["family"]
    if family not in FAMILY_MODULES:
        raise KeyError(f"unknown model family {family!r}")
    return importlib.import_module(FAMILY_MODULES[family]).build(arch)
