"""glibc malloc settings for CPU inference, applied once at start-up (annotator.app.startup).

glibc serves large blocks (above a threshold that starts at 128 KiB and grows, to 32 MB
at most, as big blocks are freed) with fresh mmap() pages and returns them on free, so an
encoder run page-faults and zero-fills many of its 10-60 MB activations again: 9 000-38 000
minor faults per run on our 2-core test VM, 5-8% of the SAM1 encoders' time
(`annotator bench image --model M --malloc-ab 6`; `ANNOTATOR_MALLOC=default` turns the
tuning off for a whole run). Keeping blocks up to 64 MB on the heap, and up
to 256 MB of freed memory before trimming, lets the next run reuse the same pages.
Memory is still reused by the next allocation, so long sessions do not grow past
their peak; what changes is that up to 256 MB of freed memory stays with the process.

PyTorch's CPU tuning guide reaches the same end by preloading jemalloc or tcmalloc;
mallopt() does it in-process. A no-op where the C library is not glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 256 << 20

_state: dict = {}


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


def tune_for_inference() -> bool:
    """Apply the thresholds once per process; False where they cannot be set (not glibc,
    or ANNOTATOR_MALLOC=default, which keeps glibc's own behaviour)."""
    if "applied" in _state:
        return _state["applied"]
    ok = False
    libc = _libc() if os.environ.get("ANNOTATOR_MALLOC", "") != "default" else None
    if libc is not None:
        # mallopt returns 1 on success; setting either value also stops glibc's dynamic
        # threshold adjustment, which is what makes the setting stick
        ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _state["applied"] = ok
    return ok


def use_untuned() -> bool:
    """The baseline of `annotator bench image --malloc-ab`: the state glibc's own adaptive
    thresholds end in at best (32 MB mmap threshold, the most it grows to, and twice that
    for trimming), fixed, with the free heap released. Its real thresholds start at 128 KiB
    and only grow as big blocks are freed, so this baseline flatters glibc."""
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 64 << 20))
    libc.malloc_trim(0)
    _state.pop("applied", None)
    return ok
