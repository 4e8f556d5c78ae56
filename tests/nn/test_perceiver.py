"""EdgeTAM's spatial perceiver and RoPEAttentionV2: structure-level checks (the numbers against
the official outputs are checked by the video parity test)."""
from __future__ import annotations

import torch

from annotator.nn.memory import PositionEmbeddingSine, apply_rope, rope_table
from annotator.nn.perceiver import PerceiverResampler, RoPEAttentionV2, build_perceiver


def _perceiver():
    torch.manual_seed(0)
    p = build_perceiver({})
    with torch.no_grad():
        for prm in p.parameters():
            prm.copy_(torch.randn_like(prm) * 0.2)
    return p.eval()


def test_official_parameter_count_and_output_layout():
    p = PerceiverResampler()
    assert sum(x.numel() for x in p.parameters()) == 230784  # MODELS.md 7
    x, pos = torch.randn(1, 64, 64, 64), torch.randn(1, 64, 64, 64)
    with torch.no_grad():
        tok, tpos = p(x, pos)
    assert tok.shape == (1, 512, 64) and tpos.shape == (1, 512, 64)
    assert torch.all(tpos[:, :256] == 0)  # global latents carry no position
    sine = PositionEmbeddingSine(64)(torch.zeros(1, 64, 16, 16)).flatten(2).transpose(1, 2)
    torch.testing.assert_close(tpos[:, 256:], sine)


def test_batch_equals_one_object_at_a_time():
    # the official forward_2d fails for batch > 1 (EdgeTAM issue #15); ours treats rows independently
    p = _perceiver()
    x, pos = torch.randn(2, 64, 64, 64), torch.randn(2, 64, 64, 64)
    with torch.no_grad():
        both, _ = p(x, pos)
        single = torch.cat([p(x[i:i + 1], pos[i:i + 1])[0] for i in range(2)])
    torch.testing.assert_close(both, single, rtol=1e-5, atol=1e-5)


def test_windowed_latent_sees_only_its_window():
    p = _perceiver()
    x, pos = torch.randn(1, 64, 64, 64), torch.randn(1, 64, 64, 64)
    y = x.clone()
    y[:, :, 4:8, 8:12] = 3 * torch.randn(1, 64, 4, 4)  # window (row 1, col 2) of the 16x16 grid of 4x4 windows -> latent 18
    with torch.no_grad():
        a, _ = p(x, pos)
        b, _ = p(y, pos)
    changed = ((a - b).abs().amax(-1) > 1e-6)[0]
    assert changed[256:].nonzero().flatten().tolist() == [18]
    z = x.clone()
    z[:, :, :32] = 3 * torch.randn(1, 64, 32, 64)  # new content (LN makes plain scaling invisible)
    with torch.no_grad():
        g, _ = p(z, pos)
    assert ((g - a)[0, :256].abs().amax(-1) > 1e-3).all()
    # the 2-D path ignores the memory position; the global path uses it
    with torch.no_grad():
        c, _ = p(x, pos + 1.0)
    assert torch.equal(c[:, 256:], a[:, 256:]) and not torch.allclose(c[:, :256], a[:, :256])


def test_rope_v2_rotates_only_2d_latents_of_each_frame():
    torch.manual_seed(0)
    att = RoPEAttentionV2(q_sizes=(8, 8), k_sizes=(4, 4), embedding_dim=32, kv_in_dim=16).eval()
    frames, n_glob, n_2d, n_ptr = 2, 5, 16, 4
    q = torch.randn(1, 64, 32)
    k = torch.randn(1, frames * (n_glob + n_2d) + n_ptr, 16)
    v = torch.randn_like(k)
    with torch.no_grad():
        ours = att(q, k, v, num_k_exclude_rope=n_ptr, rope_k_repeat=frames)
        # reference: rotate q with the 8x8 table and, per frame, only the trailing 16 keys with 4x4
        qp = apply_rope(att.q_proj(q)[:, None], rope_table(32, 8, 8))
        kp = att.k_proj(k)[:, None].clone()
        for f in range(frames):
            s = f * (n_glob + n_2d) + n_glob
            kp[:, :, s:s + n_2d] = apply_rope(kp[:, :, s:s + n_2d], rope_table(32, 4, 4))
        out = torch.nn.functional.scaled_dot_product_attention(qp, kp, att.v_proj(v)[:, None])
        ref = att.out_proj(out[:, 0])
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
