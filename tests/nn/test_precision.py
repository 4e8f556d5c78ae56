"""The precision setting: which path `auto` picks for a CPU, fp32 left bit-identical, int8 and
bf16 actually applied (annotator/nn/precision.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from annotator.nn import precision as P


@pytest.mark.parametrize("flags, cap, want", [
    ({"avx2", "amx_bf16", "amx_int8", "amx_tile"}, "AVX512", "bf16"),  # Sapphire Rapids
    ({"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}, "AVX512", "bf16"),  # Zen 4 / Cooper Lake
    ({"avx2", "avx512f", "avx512_vnni"}, "AVX512", "int8"),  # Cascade Lake
    ({"avx2", "avx_vnni"}, "AVX2", "int8"),  # Alder Lake
    ({"avx2", "fma"}, "AVX2", "fp32"),  # plain AVX2 (this project's CI machine kind)
    ({"avx512_vnni"}, "DEFAULT", "fp32"),  # units, but torch has no int8 kernels for the ISA
    (set(), "DEFAULT", "fp32"),
])
def test_auto_picks_the_fast_path_only_where_the_units_are(flags, cap, want):
    assert P.resolve("auto", flags=frozenset(flags), cap=cap) == want


def test_explicit_settings_are_kept_and_bad_ones_refused():
    for p in ("fp32", "bf16", "int8"):
        assert P.resolve(p, flags=frozenset({"amx_bf16"}), cap="AVX512") == p
    assert P.resolve(None) == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        P.resolve("fp16")


def test_this_machine_resolves_consistently_with_its_flags():
    got = P.resolve("auto")
    assert got == P.resolve("auto", flags=P.cpu_flags(), cap=P.capability())
    assert P.describe("auto").startswith(f"precision auto -> {got} (")


def test_fp32_leaves_modules_untouched():
    enc = nn.Sequential(nn.Linear(8, 8))
    assert P.apply_image_encoder(enc, "fp32") is enc
    assert P.count_quantized(enc) == 0


def test_int8_replaces_every_linear_and_stays_close():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 64))
    x = torch.randn(200, 64)
    with torch.inference_mode():
        ref = net(x)
    q = P.apply_image_encoder(net, "int8")
    assert P.count_quantized(q) == 2
    assert not any(isinstance(m, nn.Linear) for m in q.modules())
    with torch.inference_mode():
        got = q(x)
    rel = float((got - ref).norm() / ref.norm())
    assert 0 < rel < 0.03  # quantised (not the same numbers), yet close


def test_bf16_runs_matmuls_in_bfloat16_and_returns_float32():
    seen = []
    lin = nn.Linear(16, 16)
    lin.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    wrapped = P.apply_image_encoder(nn.Sequential(lin), "bf16")
    with torch.inference_mode():
        out = wrapped(torch.randn(4, 16))
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    assert wrapped.inner[0] is lin and len(wrapped.inner) == 1


def _image(h=240, w=360, seed=0):
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 40, np.uint8)
    img[h // 4: 3 * h // 4, w // 3: 2 * w // 3] = (220, 60, 50)
    return np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)


def test_session_fp32_is_bit_identical_to_the_default_and_int8_is_not():
    from annotator.engines.learned import LearnedImageSession

    img = _image()
    default = LearnedImageSession("mobilesam", "random", disk_cache=False)
    fp32 = LearnedImageSession("mobilesam", "random", disk_cache=False, precision="fp32")
    int8 = LearnedImageSession("mobilesam", "random", disk_cache=False, precision="int8")
    assert default.precision == fp32.precision == "fp32" and int8.precision == "int8"
    assert P.count_quantized(fp32.model) == 0 and P.count_quantized(int8.model) > 0
    a, b, c = (s.encode_uncached(img) for s in (default, fp32, int8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # int8 embeddings never answer for fp32 ones in the embedding cache
    assert default._cache_key(img) == fp32._cache_key(img) != int8._cache_key(img)
