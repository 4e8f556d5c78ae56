"""Load-time re-parameterisation: fold BatchNorm into convolutions, merge RepVGG branches.

Checkpoints store unfused `c` (conv) + `bn` pairs, so models are built unfused, loaded
strictly, and then `reparameterize(model)` swaps every fusable module for one plain conv.
The result computes the same function (up to float rounding) with fewer kernels.
A module takes part by defining `reparameterized() -> nn.Module`.

Below that, the CPU inference kernels the encoders share: conv+GELU / conv+add in one oneDNN
pass, a convolution over a band of rows (`conv_rows`), and a 2x bicubic upsample as matmuls.
"""
from __future__ import annotations

import functools

import torch
from torch import nn


class ConvBN(nn.Module):
    """Conv2d without bias (`c`) followed by eval-mode BatchNorm2d (`bn`)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 1, stride: int = 1, padding: int = 0,
                 groups: int = 1, eps: float = 1e-5) -> None:
        super().__init__()
        self.c = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.c(x))

    def reparameterized(self) -> nn.Conv2d:
        return fold_conv_bn(self.c, self.bn)


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """w' = w * g/sqrt(var+eps), b' = beta + (b - mean) * g/sqrt(var+eps)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_(bn.bias + (b - bn.running_mean) * scale)
    return fused.to(conv.weight.device)


@torch.no_grad()
def merge_repvgg_dw(conv3: nn.Conv2d, conv1: nn.Conv2d, identity: bool = True) -> nn.Conv2d:
    """One depthwise 3x3 conv equal to dw3x3(x) + dw1x1(x) (+ x): the 1x1 kernel and the
    identity are added at the kernel centre."""
    fused = nn.Conv2d(conv3.in_channels, conv3.out_channels, 3, 1, 1, groups=conv3.groups, bias=True)
    w = conv3.weight.clone()
    w[:, :, 1:2, 1:2] += conv1.weight
    if identity:
        w[:, 0, 1, 1] += 1.0
    fused.weight.copy_(w)
    fused.bias.copy_(conv3.bias + conv1.bias)
    return fused.to(conv3.weight.device)


def reparameterize(model: nn.Module) -> nn.Module:
    """Replace, in place, every sub-module that offers `reparameterized()` (outermost first)."""
    for name, child in list(model.named_children()):
        fn = getattr(child, "reparameterized", None)
        if callable(fn):
            setattr(model, name, fn())
        else:
            reparameterize(child)
    return model


# --------------------------------------------------------------------------------------
# Fused inference kernels. After `reparameterize`, a conv followed by GELU (or by a residual
# add) runs as one oneDNN primitive: one pass over memory instead of two or three. Outside
# inference mode, for unfused modules, or where oneDNN is missing, the plain ops run instead;
# both compute the same function (exact erf GELU).

_POINTWISE = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)
_LINEAR_POINTWISE = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)


def is_fusable(conv, x: torch.Tensor) -> bool:
    return (_POINTWISE is not None and type(conv) is nn.Conv2d and torch.is_inference_mode_enabled()
            and x.dtype == torch.float32 and x.device.type == "cpu" and conv.padding_mode == "zeros"
            and not torch.is_autocast_enabled("cpu")  # bf16 autocast must reach the plain conv
            and not isinstance(conv.padding, str) and x.dim() == 4 and x.shape[0] == 1)


def _conv_args(conv: nn.Conv2d):
    return list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups


def conv_act(conv: nn.Module, x: torch.Tensor, act: str | None = None) -> torch.Tensor:
    """act(conv(x)) with act None or "gelu"."""
    if is_fusable(conv, x):
        pad, stride, dil, groups = _conv_args(conv)
        return _POINTWISE(x, conv.weight, conv.bias, pad, stride, dil, groups, act or "none", [],
                          "none" if act == "gelu" else "")
    y = conv(x)
    return torch.nn.functional.gelu(y) if act == "gelu" else y


def conv_add(conv: nn.Module, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """conv(x) + other in one pass."""
    if is_fusable(conv, x) and other.shape[0] == 1 and other.dtype == x.dtype:
        pad, stride, dil, groups = _conv_args(conv)
        other = other.contiguous(memory_format=torch.channels_last) if x.is_contiguous(
            memory_format=torch.channels_last) else other.contiguous()
        return _POINTWISE.binary(x, other, conv.weight, conv.bias, pad, stride, dil, groups, "add", 1.0,
                                 None, [], None)
    return conv(x) + other


def linear_gelu(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """gelu(linear(x)) in one pass (an int8 quantised Linear runs as itself, then GELU)."""
    if not isinstance(linear, nn.Linear):
        return torch.nn.functional.gelu(linear(x))
    return affine_gelu(x, linear.weight, linear.bias)


def affine_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """gelu(x @ weight.T + bias) in one pass (weight [out, in], as in nn.Linear)."""
    if (_LINEAR_POINTWISE is not None and torch.is_inference_mode_enabled() and x.dtype == torch.float32
            and x.device.type == "cpu" and bias is not None and not torch.is_autocast_enabled("cpu")):
        shape = x.shape
        y = _LINEAR_POINTWISE(x.reshape(-1, shape[-1]), weight.contiguous(), bias, "gelu", [], "none")
        return y.reshape(*shape[:-1], y.shape[-1])
    return torch.nn.functional.gelu(torch.nn.functional.linear(x, weight, bias))


def _cubic_weights(t: float, a: float = -0.75) -> list[float]:
    """Keys cubic convolution weights of the four taps around a sample at offset t in [0, 1)
    (A = -0.75, as torch's bicubic)."""
    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


@functools.lru_cache(maxsize=16)
def _cubic2x_matrix64(n: int) -> torch.Tensor:
    """[2n, n] matrix of the 2x bicubic resampling along one axis: output 2i samples source
    i - 0.25, 2i+1 samples i + 0.25 (half-pixel centres); taps beyond the edge are clamped."""
    m = torch.zeros(2 * n, n, dtype=torch.float64)
    for o in range(2 * n):
        first, t = (o // 2 - 2, 0.75) if o % 2 == 0 else (o // 2 - 1, 0.25)
        for j, wt in enumerate(_cubic_weights(t)):
            m[o, min(max(first + j, 0), n - 1)] += wt
    return m


def _cubic2x_matrix(n: int, dtype, device) -> torch.Tensor:
    return _cubic2x_matrix64(n).to(dtype=dtype, device=device)


def upsample2x_bicubic(x: torch.Tensor) -> torch.Tensor:
    """`F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)` for [B,C,H,W] as
    two small matmuls with the separable resampling matrices: torch's kernel takes ~15-25 ms
    on a 256x32x32 map on one core; same taps and weights, float rounding only."""
    h, w = x.shape[-2:]
    mh, mw = _cubic2x_matrix(h, x.dtype, x.device), _cubic2x_matrix(w, x.dtype, x.device)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        # stay channels-last: [B,H,W,C] -> along W: mw @ [W,C] per row -> along H: one GEMM
        b, c = x.shape[:2]
        t = torch.matmul(mw, x.permute(0, 2, 3, 1))  # [B,H,2W,C]
        t = torch.matmul(mh, t.reshape(b, h, 2 * w * c)).reshape(b, 2 * h, 2 * w, c)
        return t.permute(0, 3, 1, 2)
    return torch.matmul(mh, torch.matmul(x, mw.t()))  # [B,C,2h,2w]


def _rows_read(conv: nn.Conv2d, lo: int, hi: int) -> tuple[int, int]:
    """Input rows [ilo, ihi) that output rows [lo, hi) read, padding rows included."""
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    return lo * s - p, (hi - 1) * s - p + k


def input_rows(conv: nn.Conv2d, lo: int, hi: int, h_in: int) -> tuple[int, int]:
    """The real input rows (of h_in) that output rows [lo, hi) of `conv` read."""
    ilo, ihi = _rows_read(conv, lo, hi)
    return max(ilo, 0), min(ihi, h_in)


def conv_rows(conv: nn.Conv2d, xb: torch.Tensor, a: int, h_in: int, lo: int, hi: int, act: str | None = None,
              pre=None) -> torch.Tensor:
    """Output rows [lo, hi) of act(conv(y)) computed from a band of its input.

    y = pre(x) (a per-pixel op such as a 1x1 conv, or None for y = x); xb holds rows
    [a, a + xb.shape[2]) of x, whose full height is h_in. Rows the convolution reads beyond
    [0, h_in) are its zero padding, added here as zero rows *of y* (so `pre` never sees
    them), and the convolution runs with no vertical padding: the result equals the same
    rows of the whole-map convolution. Needs the fused oneDNN path (`is_fusable`)."""
    ilo, ihi = _rows_read(conv, lo, hi)
    rlo, rhi = input_rows(conv, lo, hi, h_in)
    if rlo < a or rhi > a + xb.shape[2]:
        raise ValueError(f"band rows [{a}, {a + xb.shape[2]}) do not cover [{rlo}, {rhi})")
    y = xb[:, :, rlo - a: rhi - a]
    if pre is not None:
        y = pre(y)
    if ilo < rlo or ihi > rhi:
        y = torch.nn.functional.pad(y, (0, 0, rlo - ilo, ihi - rhi))
    y = y.contiguous(memory_format=torch.channels_last)
    pad, stride, dil, groups = _conv_args(conv)
    return _POINTWISE(y, conv.weight, conv.bias, [0, pad[1]], stride, dil, groups, act or "none", [],
                      "none" if act == "gelu" else "")
