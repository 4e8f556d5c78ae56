"""Still images -> 8-bit RGB arrays, with EXIF orientation applied and decompression bombs refused.

The returned array always has the size of the picture as a person sees it (EXIF-rotated), so
mask coordinates stored in the project are in those original pixels; only the bit depth and
the colour model are normalised for the models.
"""
from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from annotator.core import limits
from annotator.errors import MediaError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp")

# The limit lives in core/limits (ANNOTATOR_MAX_IMAGE_PIXELS overrides it); load_image(max_pixels=...)
# per call.
DEFAULT_MAX_PIXELS = limits.DEFAULT_MAX_PIXELS

# Pillow's own bomb check is a fixed global (and raises at 2x its limit, 179 Mpx by default);
# we enforce our configurable limit on the header size instead, before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = None

# EXIF orientations 5..8 swap width and height.
_SWAPS_AXES = {5, 6, 7, 8}


max_pixels = limits.max_pixels


def check_regular_file(path: Path, what: str = "media") -> None:
    """Only regular files are opened as media: a FIFO or a device would block or never end."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MediaError(f"{path}: file not found") from None
    except OSError as e:
        raise MediaError(f"{path}: cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise MediaError(f"{path}: is a folder, not an image" if what == "image" else f"{path}: is a folder")
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(f"{path}: is not a regular file (a pipe, socket or device); refusing to read it as {what}")


def _open(path: Path) -> Image.Image:
    check_regular_file(path, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(path)
    except Exception as e:  # PIL raises several types for unknown/corrupt headers
        raise MediaError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:
        return 1


def _check_size(path: Path, w: int, h: int, limit: int | None) -> None:
    bad = limits.pixels_problem(w, h, limit)
    if bad:
        raise MediaError(f"{path}: image size {bad}")


def open_checked(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """An image opened with only its header read, and its size checked against the pixel
    limit before anything is decoded (EXIF reading, load() and np.asarray decode). For code
    that needs the raw Pillow image (palette PNGs, e.g. DAVIS annotations); close it after."""
    path = Path(path)
    img = _open(path)
    try:
        _check_size(path, *img.size, max_pixels)
    except BaseException:
        img.close()
        raise
    return img


def image_size(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header (the limit is checked before
    EXIF is read: a PNG's EXIF may sit after its pixels and reading it decodes them)."""
    path = Path(path)
    with open_checked(path, max_pixels) as img:
        w, h = img.size
        if _orientation(img) in _SWAPS_AXES:
            w, h = h, w
    return w, h


def to_rgb8(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> HxWx3 uint8 (alpha dropped, palettes expanded, high bit depths scaled)."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8).copy()
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit: map the full 0..65535 range linearly, the same way every viewer does.
        a = np.asarray(img).astype(np.uint32)
        g = ((a * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode in ("I", "F"):
        # 32-bit int/float has no fixed range: stretch what is there.
        a = np.asarray(img).astype(np.float64)
        finite = np.isfinite(a)
        lo = float(a[finite].min()) if finite.any() else 0.0
        hi = float(a[finite].max()) if finite.any() else 0.0
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        g = np.clip(np.nan_to_num((a - lo) * scale), 0, 255).round().astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in img.info):
        # Transparent pixels keep their stored colour; the model sees the colour, not a backdrop.
        img = img.convert("RGBA")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file to HxWx3 uint8 RGB in its displayed (EXIF-rotated) size."""
    path = Path(path)
    with open_checked(path, max_pixels) as img:
        orient = _orientation(img)
        try:
            img.seek(0)  # multi-page TIFF / animated WebP: the first frame
            img.load()
            if orient != 1:
                img = ImageOps.exif_transpose(img)
            return to_rgb8(img)
        except MediaError:
            raise
        except Exception as e:
            raise MediaError(f"{path}: corrupt or unsupported image ({type(e).__name__}: {e})") from None
