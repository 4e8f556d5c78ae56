"""EfficientTAM's pooled memory cross-attention, checked against a direct re-computation."""
from __future__ import annotations

import math

import pytest
import torch

from annotator.nn.efficient_memory import EfficientRoPEAttention
from annotator.nn.memory import RoPEAttention, apply_rope, rope_table

D, KV, SIDE = 32, 16, 8  # small: 8x8 query grid, 64 tokens per memory frame


def _pair(variant):
    torch.manual_seed(0)
    eff = EfficientRoPEAttention(variant, embedding_dim=D, num_heads=1, kv_in_dim=KV, feat_sizes=(SIDE, SIDE))
    plain = RoPEAttention(D, 1, kv_in_dim=KV, feat_sizes=(SIDE, SIDE))
    plain.load_state_dict(eff.state_dict())
    return eff.eval(), plain.eval()


def _inputs(frames: int, ptr_tokens: int):
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, SIDE * SIDE, D, generator=g)
    k = torch.randn(1, frames * SIDE * SIDE + ptr_tokens, KV, generator=g)
    v = torch.randn(1, frames * SIDE * SIDE + ptr_tokens, KV, generator=g)
    return q, k, v


@pytest.mark.parametrize("variant", ["efficient1", "efficient2"])
def test_one_memory_frame_is_full_attention(variant):
    eff, plain = _pair(variant)
    q, k, v = _inputs(1, 8)
    with torch.no_grad():
        a = eff(q, k, v, num_k_exclude_rope=8, rope_k_repeat=1)
        b = plain(q, k, v, num_k_exclude_rope=8, rope_k_repeat=1)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def _reference(eff, q, k, v, frames, n_ptr, variant):
    """Straightforward loop version of MODELS.md section 6."""
    qp, kp, vp = eff.q_proj(q)[0], eff.k_proj(k)[0], eff.v_proj(v)[0]
    table = rope_table(D, SIDE, SIDE)
    qp = apply_rope(qp[None, None], table)[0, 0]
    n_rope = frames * SIDE * SIDE
    kr = apply_rope(kp[None, None, :n_rope], table, repeat=frames)[0, 0]
    pooled_k, pooled_v = [], []
    for f in range(frames):
        kf = kr[f * SIDE * SIDE:(f + 1) * SIDE * SIDE].reshape(SIDE, SIDE, D)
        vf = vp[f * SIDE * SIDE:(f + 1) * SIDE * SIDE].reshape(SIDE, SIDE, D)
        for y in range(0, SIDE, 2):
            for x in range(0, SIDE, 2):
                pooled_k.append(kf[y:y + 2, x:x + 2].reshape(4, D).mean(0))
                pooled_v.append(vf[y:y + 2, x:x + 2].reshape(4, D).mean(0))
    pk, pv = torch.stack(pooled_k), torch.stack(pooled_v)
    k_ptr, v_ptr = kp[n_rope:], vp[n_rope:]
    scale = 1 / math.sqrt(D)
    if variant == "efficient1":
        logits = torch.cat([qp @ pk.T * scale + math.log(4), qp @ k_ptr.T * scale], dim=1)
    else:
        logits = torch.cat([qp @ (pk + math.log(4)).T * scale, qp @ k_ptr.T * scale], dim=1)
    out = torch.softmax(logits, dim=1) @ torch.cat([pv, v_ptr])
    return eff.out_proj(out)[None]


@pytest.mark.parametrize("variant", ["efficient1", "efficient2"])
def test_pooled_attention_matches_direct_computation(variant):
    eff, _ = _pair(variant)
    q, k, v = _inputs(3, 8)
    with torch.no_grad():
        ours = eff(q, k, v, num_k_exclude_rope=8, rope_k_repeat=3)
        ref = _reference(eff, q, k, v, 3, 8, variant)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def test_variants_differ_once_pooling_starts():
    e1, plain = _pair("efficient1")
    e2, _ = _pair("efficient2")
    q, k, v = _inputs(2, 8)
    with torch.no_grad():
        a = e1(q, k, v, num_k_exclude_rope=8, rope_k_repeat=2)
        b = e2(q, k, v, num_k_exclude_rope=8, rope_k_repeat=2)
        full = plain(q, k, v, num_k_exclude_rope=8, rope_k_repeat=2)
    assert (a - b).abs().max() > 1e-3
    assert (a - full).abs().max() > 1e-4  # pooling is an approximation, not the full attention


def test_unknown_variant_rejected():
    with pytest.raises(KeyError):
        EfficientRoPEAttention("efficient3", embedding_dim=D, num_heads=1, kv_in_dim=KV)
