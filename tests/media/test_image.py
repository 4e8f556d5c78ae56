import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from annotator.errors import MediaError
from annotator.media import image_size, load_image, probe


def _rgb(h=24, w=40):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext,kw", [("png", {}), ("bmp", {}), ("tiff", {}), ("webp", {"lossless": True})])
def test_lossless_formats_roundtrip(tmp_path, ext, kw):
    a = _rgb()
    p = tmp_path / f"x.{ext}"
    Image.fromarray(a).save(p, **kw)
    out = load_image(p)
    assert out.dtype == np.uint8 and out.shape == (24, 40, 3)
    assert np.array_equal(out, a)
    info = probe(p)
    assert (info.kind, info.width, info.height, info.num_frames) == ("image", 40, 24, 1)


def test_jpeg(shared_data):
    out = load_image(shared_data / "images_truck.jpg")
    w, h = image_size(shared_data / "images_truck.jpg")
    assert out.shape == (h, w, 3) and out.dtype == np.uint8


def _quadrants(h, w):
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)     # top-left red
    a[: h // 2, w // 2:] = (0, 255, 0)      # top-right green
    a[h // 2:, : w // 2] = (0, 0, 255)      # bottom-left blue
    a[h // 2:, w // 2:] = (255, 255, 255)   # bottom-right white
    return a


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation(tmp_path, orientation):
    stored = _quadrants(64, 96)
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "o.jpg"
    Image.fromarray(stored).save(p, quality=100, exif=exif.tobytes())
    out = load_image(p).astype(int)
    # what a viewer shows: orientation 3 = 180 deg, 6 = rotate 90 cw, 8 = rotate 90 ccw
    k = {1: 0, 3: 2, 6: -1, 8: 1}[orientation]
    expected = np.rot90(stored, k).astype(int)
    assert out.shape == expected.shape
    assert image_size(p) == (expected.shape[1], expected.shape[0])
    assert np.abs(out - expected).mean() < 4  # JPEG noise only


def test_16bit_grayscale_png(tmp_path):
    a = np.array([[0, 257, 65535], [32896, 1000, 60000]], dtype=np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    assert Image.open(p).mode.startswith("I")
    out = load_image(p)
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert out[..., 0].tolist() == [[0, 1, 255], [128, 4, 233]]
    assert (out[..., 0] == out[..., 2]).all()


def test_16bit_rgb_png(tmp_path):
    # Pillow cannot build 16-bit RGB itself; write the PNG chunks by hand.
    h, w = 2, 2
    px = np.array([[[0, 65535, 257], [65535, 0, 0]], [[128 * 257, 0, 65535], [0, 0, 0]]], dtype=">u2")
    raw = b"".join(b"\x00" + px[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    p = tmp_path / "rgb16.png"
    p.write_bytes(png)
    out = load_image(p)
    assert out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [0, 255, 1]
    assert out[0, 1].tolist() == [255, 0, 0]
    assert out[1, 0].tolist() == [128, 0, 255]


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "1", "CMYK", "F"])
def test_modes_become_rgb8(tmp_path, mode):
    a = _quadrants(16, 16)
    img = Image.fromarray(a)
    if mode == "P":
        img = img.quantize(8)
    elif mode == "RGBA":
        img = img.convert("RGBA")
        img.putalpha(Image.new("L", img.size, 7))
    else:
        img = img.convert(mode)
    ext = {"CMYK": "jpg", "F": "tiff"}.get(mode, "png")
    p = tmp_path / f"m.{ext}"
    img.save(p, **({"quality": 100} if ext == "jpg" else {}))
    out = load_image(p)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    if mode in ("P", "RGBA"):
        assert np.array_equal(out, a)  # colour kept, alpha dropped
    if mode in ("L", "LA", "1", "F"):
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    if mode == "F":
        assert out.min() == 0 and out.max() == 255  # stretched


def test_multipage_tiff_first_page(tmp_path):
    p = tmp_path / "pages.tiff"
    pages = [Image.new("RGB", (8, 8), c) for c in [(10, 20, 30), (200, 0, 0)]]
    pages[0].save(p, save_all=True, append_images=pages[1:])
    assert load_image(p)[0, 0].tolist() == [10, 20, 30]


def _png_header_only(w, h):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    # a valid header claiming a huge image, followed by (almost) no pixel data
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


def test_decompression_bomb_refused_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(30000, 30000))
    for fn in (load_image, image_size, probe):
        with pytest.raises(MediaError, match=r"bomb\.png.*30000x30000.*over the limit") as e:
            fn(p)
        assert "\n" not in str(e.value)
    # the limit is configurable, and only the size decides (a small image passes)
    small = tmp_path / "small.png"
    Image.fromarray(_rgb(100, 100)).save(small)
    monkeypatch.setenv("ANNOTATOR_MAX_IMAGE_PIXELS", "5000")
    with pytest.raises(MediaError, match="over the limit of 5,000"):
        load_image(small)
    assert load_image(small, max_pixels=10_000).shape == (100, 100, 3)


def test_image_errors(tmp_path):
    for name, data in [("missing.png", None), ("junk.jpg", b"\x00garbage" * 50), ("text.png", b"hello")]:
        p = tmp_path / name
        if data is not None:
            p.write_bytes(data)
        with pytest.raises(MediaError) as e:
            load_image(p)
        assert name in str(e.value) and "\n" not in str(e.value)
    # a truncated file: header fine, pixels missing
    full = tmp_path / "full.png"
    Image.fromarray(_rgb(200, 200)).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:2000])
    with pytest.raises(MediaError, match="cut.png"):
        load_image(cut)
