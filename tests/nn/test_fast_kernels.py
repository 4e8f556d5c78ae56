"""Hand-made fast paths equal the torch ops they replace."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from annotator.nn.fuse import upsample2x_bicubic


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
