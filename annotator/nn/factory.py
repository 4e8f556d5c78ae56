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


def family_implemented(family: str) -> bool:
    mod = FAMILY_MODULES.get(family)
    return mod is not None and importlib.util.find_spec(mod) is not None


def build(arch: dict):
    family = arch["family"]
    if family not in FAMILY_MODULES:
        raise KeyError(f"unknown model family {family!r}")
    return importlib.import_module(FAMILY_MODULES[family]).build(arch)
