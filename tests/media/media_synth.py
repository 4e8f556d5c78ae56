"""Synthetic media for the media tests, written with PyAV/Pillow (imported as a plain module)."""
from __future__ import annotations

import numpy as np


def digit_frame(i: int, size: int = 32) -> np.ndarray:
    """A frame whose four quadrants show the four decimal digits of i as grey levels 20..200,
    so the frame number can be read back through a lossy codec."""
    a = np.zeros((size, size, 3), np.uint8)
    h = size // 2
    digits = [(i // 1000) % 10, (i // 100) % 10, (i // 10) % 10, i % 10]
    for k, (y, x) in enumerate([(0, 0), (0, h), (h, 0), (h, h)]):
        a[y:y + h, x:x + h] = 20 + 20 * digits[k]
    return a


def read_digit_frame(a: np.ndarray) -> int:
    h = a.shape[0] // 2
    q = h // 2
    val = 0
    for y, x in [(q, q), (q, h + q), (h + q, q), (h + q, h + q)]:
        val = val * 10 + int(round((int(a[y, x, 0]) - 20) / 20))
    return val


def write_video(path, n: int, codec: str = "mpeg4", rate: int = 25, size: int = 32, gop: int = 25):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        s.codec_context.gop_size = gop
        if codec == "mpeg4":
            s.codec_context.qmin, s.codec_context.qmax = 1, 3
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(digit_frame(i, size), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


