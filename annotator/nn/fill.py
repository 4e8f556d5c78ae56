"""Deterministic synthetic weights ("parity fill v2") and the digest that identifies them.

Used for `--weights random` (salt "random") and by the parity tests (salt from the fixture
schema). The rule is specified in the parity fixtures' README §1: each state-dict entry gets
its own generator seeded with crc32(salt + name); the first matching line decides the value.
Being bit-identical to the fixtures' fill is checked against each schema's `filled_sha256`.
"""
from __future__ import annotations

import hashlib
import math
import zlib

import torch

OBJ_SCORE_BIAS_SUFFIXES = ("pred_obj_score_head.layers.2.bias", "pred_obj_score_head.bias")


def fill_value(name: str, t: torch.Tensor, salt: str, keys) -> torch.Tensor:
    if not t.is_floating_point():
        return t.clone()
    g = torch.Generator().manual_seed(zlib.crc32((salt + name).encode("utf-8")))
    shape = tuple(t.shape)

    def randn():
        return torch.randn(shape, generator=g, dtype=torch.float32)

    if name.endswith(OBJ_SCORE_BIAS_SUFFIXES):
        # keeps SAM 2 objects "present" with random weights
        return 4.0 + 0.02 * randn()
    if t.ndim == 1 and name.endswith(".weight") and name[: -len("weight")] + "running_var" in keys:
        return 0.5 + 0.05 * randn()  # BatchNorm gamma: small, so deep CNNs do not blow up
    if name.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=g, dtype=torch.float32)
    if name.endswith("running_mean"):
        return 0.1 * randn()
    if t.ndim <= 1 and name.endswith("weight"):
        return 1.0 + 0.1 * randn()
    if t.ndim <= 1:
        return 0.02 * randn()
    return randn() / math.sqrt(math.prod(shape[1:]))


def fill_state_dict(state_dict: dict, salt: str) -> dict:
    """New {name: tensor} following the fill rule for every entry (buffers included)."""
    keys = set(state_dict)
    return {name: fill_value(name, state_dict[name], salt, keys) for name in sorted(state_dict)}


def fill_model(model: torch.nn.Module, salt: str) -> dict:
    """Fill `model` in place (strict load), put it in eval mode; returns the filled dict."""
    filled = fill_state_dict(model.state_dict(), salt)
    model.load_state_dict(filled, strict=True)
    model.eval()
    return filled


def state_digest(state_dict: dict) -> str:
    """sha256 over sorted names of name, dtype, shape and raw little-endian bytes."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(name.encode("utf-8"))
        h.update(str(t.dtype).encode())
        h.update(str(list(t.shape)).encode())
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        h.update(t.numpy().tobytes())
    return h.hexdigest()
