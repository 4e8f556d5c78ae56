"""The malloc tuning keeps freed activation-sized blocks, so the next run does not page-fault them in again."""
from __future__ import annotations

import ctypes
import resource

import pytest

from annotator.nn import allocator


def _fault_in(libc, size: int) -> int:
    """Minor page faults taken by malloc + touching every page + free of `size` bytes."""
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    p = libc.malloc(size)
    assert p
    ctypes.memset(p, 1, size)
    libc.free(p)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0


def test_freed_blocks_are_reused_without_page_faults():
    libc = allocator._libc()
    if libc is None:
        pytest.skip("not glibc: tune_for_inference is a no-op here")
    assert allocator.tune_for_inference()
    size = 48 << 20  # above glibc's largest dynamic mmap threshold (32 MB), below ours
    _fault_in(libc, size)  # first use maps the pages
    again = _fault_in(libc, size)
    # 12288 pages of 4 KiB would fault again if the block had gone back to the OS
    assert again < 500, f"{again} page faults re-using a freed 48 MB block"
