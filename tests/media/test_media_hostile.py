"""Hostile media: size bombs refused on the header (before any pixel or EXIF is decoded), in
DAVIS PNG reading too; FIFOs never opened; bit-flipped video gives one clear error."""
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from annotator.core import limits
from annotator.errors import AnnotatorError, MediaError
from annotator.media import image_size, load_image, open_video, probe
from media_synth import write_video


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, w: int = 50_000, h: int = 50_000) -> Path:
    """A small file whose header declares w x h RGB pixels (the data is cut short)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + 3 * w) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: the bomb would need 7.5
from annotator.errors import AnnotatorError
what, path = sys.argv[1], sys.argv[2]
try:
    if what == "size":
        from annotator.media import image_size; image_size(path)
    elif what == "load":
        from annotator.media import load_image; load_image(path)
    else:
        from annotator.formats.davis import read_png; read_png(__import__("pathlib").Path(path))
except AnnotatorError as e:
    print("refused:", e)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS")
@pytest.mark.parametrize("what", ["size", "load", "davis"])
def test_bomb_refused_on_the_header_under_a_memory_cap(tmp_path, what):
    png = bomb_png(tmp_path / "00000.png")
    r = subprocess.run([sys.executable, "-c", _CHILD, what, str(png)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-800:]
    assert "refused:" in r.stdout and "over the limit" in r.stdout, r.stdout


def test_pixel_limit_lives_in_core_limits(tmp_path, monkeypatch):
    from PIL import Image

    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(p)
    monkeypatch.setenv("ANNOTATOR_MAX_IMAGE_PIXELS", "1000")
    assert limits.max_pixels() == 1000
    with pytest.raises(MediaError, match="over the limit of 1,000"):
        image_size(p)
    monkeypatch.delenv("ANNOTATOR_MAX_IMAGE_PIXELS")
    assert image_size(p) == (40, 30)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
@pytest.mark.parametrize("name", ["pipe.png", "pipe.mp4"])
def test_fifo_is_never_opened_as_media(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    for fn in (probe, open_video, image_size, load_image):
        if name.endswith(".mp4") and fn in (image_size, load_image):
            continue
        with pytest.raises(MediaError, match="not a regular file"):
            fn(fifo)
    proj = tmp_path / "p.annotator"
    cli = [sys.executable, "-m", "annotator"]
    assert subprocess.run(cli + ["new", str(proj)], capture_output=True, timeout=60).returncode == 0
    r = subprocess.run(cli + ["add", str(proj), str(fifo)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a regular file" in r.stderr


def test_video_frame_limit(tmp_path, monkeypatch):
    v = write_video(tmp_path / "v.mp4", 12)
    monkeypatch.setenv("ANNOTATOR_MAX_FRAMES", "10")
    with pytest.raises(MediaError, match="12 frames is over the limit of 10"):
        open_video(v)


def test_bit_flipped_video_gives_one_clear_error_per_frame(tmp_path):
    good = write_video(tmp_path / "good.mp4", 60, gop=10)
    data = bytearray(good.read_bytes())
    rng = random.Random(3)
    outcomes = {"ok": 0, "refused": 0}
    for k in range(6):
        bad = bytearray(data)
        for _ in range(8):  # in the frame data (PyAV writes the index at the end)
            i = rng.randrange(len(bad) // 10, len(bad) * 6 // 10)
            bad[i] ^= 1 << rng.randrange(8)
        path = tmp_path / f"bad{k}.mp4"
        path.write_bytes(bytes(bad))
        try:
            with open_video(path) as src:
                for i in range(src.num_frames):
                    try:
                        assert src.frame(i).shape[2] == 3
                        outcomes["ok"] += 1
                    except MediaError as e:
                        assert "\n" not in str(e)
                        outcomes["refused"] += 1
        except AnnotatorError as e:
            assert "\n" not in str(e)
            outcomes["refused"] += 1
    assert outcomes["ok"] > 0
