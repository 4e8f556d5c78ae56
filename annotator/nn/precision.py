"""Reduced-precision execution of the learned models: which precision, and applying it to modules.

Settings (`--precision`, engine constructors):
    fp32   float32 everywhere; untouched modules, bit-identical to the parity path
    bf16   image encoder under bfloat16 autocast (matrix products and convolutions in bf16,
           norms/softmax in float32), outputs cast back to float32
    int8   dynamic int8 quantisation of the nn.Linear layers (per-output-channel symmetric
           weights, per-batch activation scale computed at run time) of the image encoder and,
           for video models, of the memory attention
    auto   bf16 where the CPU has bfloat16 matrix units (amx_bf16 / avx512_bf16), else int8
           where it has int8 dot-product units (amx_int8 / avx512_vnni / avx_vnni) and torch's
           x86 int8 kernels, else fp32. A plain AVX2 CPU gets fp32: there int8 runs on the
           ordinary vector units and measured too small a gain for its accuracy loss

Kept in float32 whatever the setting, because they accumulate across frames or clicks or
because their float32 forms are folded by hand: the prompt encoder and mask decoder (their
folded attention reads weights directly), the memory encoder, the object-pointer projection
and the memory bank itself (stored as today). Convolutions stay float32 under int8: dynamic
quantisation covers only Linear layers.
Measured figures: `annotator bench precision` (README "Reduced precision").
"""
from __future__ import annotations

import functools
import warnings

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16", "int8", "auto")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo is absent)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def capability() -> str:
    """torch's vector ISA for CPU kernels: 'AVX512', 'AVX2', 'DEFAULT', ..."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older or non-x86 builds
        return "DEFAULT"


def has_bf16_units(flags=None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return "amx_bf16" in flags or "avx512_bf16" in flags


def has_int8_kernels(cap: str | None = None) -> bool:
    """torch's x86 int8 GEMM kernels can run (they need AVX2 at least)."""
    cap = capability() if cap is None else cap
    return cap.startswith(("AVX2", "AVX512")) and any(
        e in torch.backends.quantized.supported_engines for e in ("x86", "fbgemm"))


def has_int8_units(flags=None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return bool({"amx_int8", "avx512_vnni", "avx_vnni"} & set(flags))


def resolve(precision: str | None, flags=None, cap: str | None = None) -> str:
    """The concrete precision ('fp32', 'bf16' or 'int8') for a setting."""
    p = (precision or "fp32").lower()
    if p not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if p != "auto":
        return p
    if has_bf16_units(flags):
        return "bf16"
    if has_int8_units(flags) and has_int8_kernels(cap):
        return "int8"
    return "fp32"


def describe(precision: str | None) -> str:
    """One line: the setting, what it resolved to and why (for the CLI's stderr)."""
    got = resolve(precision)
    if (precision or "fp32") != "auto":
        return f"precision {got}"
    if got == "bf16":
        why = "the CPU has bfloat16 matrix units"
    elif got == "int8":
        why = "the CPU has int8 dot-product units, no bfloat16 ones"
    else:
        why = "the CPU has no bfloat16 or int8 matrix units"
    return f"precision auto -> {got} ({why})"


class Bf16Autocast(nn.Module):
    """Runs `inner` under CPU bfloat16 autocast; floating outputs come back as float32.
    The inner module keeps its name (`inner`) out of state dicts: precision is applied after
    the weights are loaded and never saved."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = self.inner(*args, **kwargs)
        return _to_float32(out)

    def __getattr__(self, name):  # attributes of the wrapped encoder (image_size, neck, ...)
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)


def _to_float32(x):
    if isinstance(x, torch.Tensor):
        return x.float() if x.is_floating_point() and x.dtype != torch.float32 else x
    if isinstance(x, dict):
        return {k: _to_float32(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_float32(v) for v in x)
    return x


def quantize_linears(module: nn.Module) -> nn.Module:
    """Replace, in place, every nn.Linear under `module` by a dynamically quantised int8 one
    (per-output-channel symmetric weights). Returns the module (or its replacement)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    engines = torch.backends.quantized.supported_engines
    if "x86" in engines:
        torch.backends.quantized.engine = "x86"
    elif "fbgemm" in engines:
        torch.backends.quantized.engine = "fbgemm"
    with warnings.catch_warnings():  # eager quantisation is marked deprecated in torch 2.13; it is what runs
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


def count_quantized(module: nn.Module) -> int:
    """How many int8 dynamic Linear layers `module` holds (tests, bench)."""
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    return sum(1 for m in module.modules() if isinstance(m, QLinear))


def apply_image_encoder(encoder: nn.Module, precision: str) -> nn.Module:
    """The encoder to run for a resolved precision ('fp32' returns it untouched)."""
    if precision == "fp32":
        return encoder
    if precision == "bf16":
        return Bf16Autocast(encoder)
    if precision == "int8":
        return quantize_linears(encoder)
    raise ValueError(f"unresolved precision {precision!r}")


def apply_sam2(model: nn.Module, precision: str) -> nn.Module:
    """SAM 2 family: the image encoder as above; under int8 also the memory attention's Linear
    layers (the memory bank and memory encoder stay as they are)."""
    if precision == "fp32":
        return model
    model.image_encoder = apply_image_encoder(model.image_encoder, precision)
    if precision == "int8":
        quantize_linears(model.memory_attention)
    model.precision = precision
    return model
