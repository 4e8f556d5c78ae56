"""Hand-made fast paths equal the torch ops they replace."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from annotator.nn.fuse import conv_act, conv_add, upsample2x_bicubic
from annotator.nn.repvit import channel_mlp


@pytest.mark.parametrize("shape", [(1, 256, 32, 32), (2, 3, 5, 7), (1, 4, 1, 3)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_bicubic_2x_equals_torch_interpolate(shape, channels_last):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    want = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    got = upsample2x_bicubic(x)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=2e-6, rtol=1e-6)


def test_channel_mlp_in_row_bands_equals_whole_map():
    torch.manual_seed(2)
    c1, c2 = torch.nn.Conv2d(8, 16, 1), torch.nn.Conv2d(16, 8, 1)
    y = torch.randn(1, 8, 70, 66).contiguous(memory_format=torch.channels_last)  # bands 16x4 + 6
    with torch.inference_mode():
        banded = channel_mlp(c1, c2, y)
        whole = conv_add(c2, conv_act(c1, y, "gelu"), y)
    assert torch.allclose(banded, whole, atol=1e-5, rtol=1e-5)
