"""TinyViT's fast paths (row-band MBConv, SDPA for large windows) equal the plain ones."""
from __future__ import annotations

import torch

from annotator.nn import tiny_vit
from annotator.nn.fill import fill_model
from annotator.nn.fuse import reparameterize


def test_mbconv_row_bands_equal_the_whole_map():
    torch.manual_seed(0)
    blk = tiny_vit.MBConv(16, 16)
    fill_model(blk, "unit-test")
    blk.eval()
    reparameterize(blk)
    # 37 rows: bands of 16, 16 and 5, so a short last band and both borders are covered
    x = torch.randn(1, 16, 37, 130).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert tiny_vit.fusable_strips(blk, x)
        banded = blk._forward_strips(x)
        y = tiny_vit.conv_act(blk.conv1, x, "gelu")
        y = tiny_vit.conv_act(blk.conv2, y, "gelu")
        whole = torch.nn.functional.gelu(tiny_vit.conv_add(blk.conv3, y, x))
    # oneDNN may pick another kernel for a band than for the whole map: rounding only
    assert torch.allclose(banded, whole, atol=1e-5, rtol=1e-5), (banded - whole).abs().max()


def test_large_window_attention_matches_explicit_softmax():
    torch.manual_seed(1)
    att = tiny_vit.Attention(40, 2, 14)
    fill_model(att, "unit-test")
    x = torch.randn(3, 196, 40)
    with torch.inference_mode():
        fast = att(x)
        b, n, c = x.shape
        qkv = att.qkv(att.norm(x)).reshape(b, n, 2, 3, 20)
        q, k, v = qkv.permute(3, 0, 2, 1, 4).unbind(0)
        a = (q @ k.transpose(-2, -1)) * 20 ** -0.5 + att.attention_biases[:, att.attention_bias_idxs]
        ref = att.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))
    assert torch.allclose(fast, ref, atol=1e-5, rtol=1e-5)


def test_banded_stem_and_patch_merging_equal_whole_map_convs():
    torch.manual_seed(3)
    enc = tiny_vit.TinyViT(embed_dims=(16, 32, 40, 80), depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1),
                           window_sizes=(7, 7, 14, 7), out_chans=16)
    fill_model(enc, "unit-test")
    enc.eval()
    reparameterize(enc)
    x = torch.randn(1, 3, 300, 260).contiguous(memory_format=torch.channels_last)  # odd band counts
    seq, pm = enc.patch_embed.seq, enc.layers[0].downsample
    with torch.inference_mode():
        assert tiny_vit.is_fusable(seq[0], x)  # else the banded paths would not run
        stem = enc._stem(x)
        want = tiny_vit.conv_act(seq[2], tiny_vit.conv_act(seq[0], x, "gelu"))
        assert torch.allclose(stem, want, atol=1e-5, rtol=1e-5)
        y = torch.randn(1, 16, 260, 258).contiguous(memory_format=torch.channels_last)
        assert tiny_vit.fusable_strips(pm, y, stride=None)
        banded = pm(y)
        plain = tiny_vit.conv_act(pm.conv3, tiny_vit.conv_act(pm.conv2, tiny_vit.conv_act(pm.conv1, y, "gelu"), "gelu"))
        assert banded.shape == plain.shape == (1, 32, 130, 129)
        assert torch.allclose(banded, plain, atol=1e-5, rtol=1e-5)
