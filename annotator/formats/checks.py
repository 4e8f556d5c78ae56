"""Import-side checks: what an annotation file *declares* is checked here before anything is
allocated, rasterised or written, so a hostile or damaged file ends in one FormatError line.

Every importer (COCO, YouTube-VIS, SA-V, DAVIS, labelme) calls these; the limits themselves
live in core/limits (media pixels and frames, JSON size, polygon vertices and outline length).

Coordinates must be finite and lie within one frame size of the frame (a polygon may reach a
little outside the image, as real datasets' do; pycocotools clips it). That bounds the
integers pycocotools computes from them, and together with the vertex and outline limits it
bounds the memory and time of rasterising.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core import limits
from annotator.errors import FormatError

# pycocotools counts runs in uint32 and object ids are stored as SQLite integers.
MAX_RUN = 2 ** 32 - 1
MAX_OBJECT_ID = 2 ** 31 - 1


MAX_PROBLEM = 300  # characters of a problem description; values from files are cut shorter


def _fail(where: str, problem: str):
    raise FormatError(f"{where}: {problem if len(problem) <= MAX_PROBLEM else problem[:MAX_PROBLEM] + '...'}")


def show(v, limit: int = 60) -> str:
    """A value from a file as a short text for a message (1e308 as an int has 309 digits, a
    list may hold a million entries)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10 ** 15:
        try:
            return f"{float(v):.3g}"
        except OverflowError:
            return f"an integer of {len(str(abs(v)))} digits"
    text = v if isinstance(v, str) else repr(v) if isinstance(v, (list, dict, tuple)) else str(v)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_whole(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, float) and math.isfinite(v) and v.is_integer()


# ----------------------------------------------------------------------------- JSON documents
def load_json(path: Path) -> Any:
    """A JSON document, refused in one line when it is missing, a folder, over the size limit,
    not UTF-8, not JSON, nested too deeply, or holding an integer too long to convert."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        _fail(str(path), "file not found")
    except OSError as e:
        _fail(str(path), f"cannot be read ({e.strerror or e})")
    if path.is_dir():
        _fail(str(path), "is a folder, expected a JSON file")
    if not path.is_file():
        _fail(str(path), "is not a regular file")
    cap = limits.max_json_bytes()
    if st.st_size > cap:
        _fail(str(path), f"{st.st_size:,} bytes is over the limit of {cap:,} for a JSON file "
              "(raise ANNOTATOR_MAX_JSON_BYTES to allow it)")
    try:
        with open(path, "rb") as f:
            data = f.read(st.st_size + 1)  # (read(n) reserves n bytes up front)
            while len(data) > st.st_size and len(data) <= cap:  # it grew while we read: on, bounded
                more = f.read(1 << 20)
                if not more:
                    break
                data += more
    except OSError as e:
        _fail(str(path), f"cannot be read ({e.strerror or e})")
    if len(data) > cap:
        _fail(str(path), f"over the limit of {cap:,} bytes for a JSON file (raise ANNOTATOR_MAX_JSON_BYTES)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        _fail(str(path), f"not UTF-8 text ({e.reason} at byte {e.start})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        _fail(str(path), f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")
    except RecursionError:
        _fail(str(path), "JSON nested too deeply to read")
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        _fail(str(path), f"invalid JSON ({str(e).split(';')[0][:120]})")


MAX_STORED_DEPTH = 32  # nesting of a value kept verbatim in the project (attributes, SA-V fields)


def storable(value, where: str, what: str):
    """A value from a file that the project keeps as it is (COCO/YouTube-VIS attributes, SA-V
    fields): nested at most MAX_STORED_DEPTH deep, so reading it back can never hit Python's
    recursion limit (a file may nest ~1000 deep and still parse)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            if d > MAX_STORED_DEPTH:
                _fail(where, f"{what} is nested more than {MAX_STORED_DEPTH} deep")
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return value


# ----------------------------------------------------------------------------- declared sizes
def media_size(width, height, where: str) -> tuple[int, int]:
    """(width, height) declared by a file: whole positive numbers within the pixel limit."""
    for k, v in (("width", width), ("height", height)):
        if not _is_whole(v) or int(v) <= 0:
            _fail(where, f"{k} should be a positive integer, got {show(v)}")
        if int(v) > 2 ** 40:
            _fail(where, f"media size refused: {k} {show(int(v))} is not a real image size")
    w, h = int(width), int(height)
    bad = limits.pixels_problem(w, h)
    if bad:
        _fail(where, f"media size refused: {bad}")
    return w, h


def frame_count(n, where: str, what: str = "frame count") -> int:
    """A declared number of frames: a whole positive number within the frame limit."""
    if not _is_whole(n) or int(n) <= 0:
        _fail(where, f"{what} should be a positive integer, got {show(n)}")
    if int(n) > 2 ** 62:
        _fail(where, f"{what} refused: {show(int(n))} frames is over the limit of {limits.max_frames():,}")
    bad = limits.frames_problem(int(n))
    if bad:
        _fail(where, f"{what} refused: {bad}")
    return int(n)


def frame_index(f, where: str, n_frames: int | None = None) -> int:
    """A frame number (from 0) within the frame limit and, when known, the item's frames."""
    if not _is_whole(f) or int(f) < 0:
        _fail(where, f"frame number should be a non-negative integer, got {show(f)}")
    f = int(f)
    if f > 2 ** 62:
        _fail(where, f"frame {show(f)} is beyond the frame limit of {limits.max_frames():,}")
    limit = limits.max_frames() if n_frames is None else n_frames
    if f >= limit:
        _fail(where, f"frame {f:,} is beyond the " + (f"{n_frames:,} frames of the video" if n_frames is not None
                                                      else f"frame limit of {limit:,} (raise ANNOTATOR_MAX_FRAMES)"))
    return f


def fps(v, where: str) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        _fail(where, f"fps should be a finite non-negative number, got {show(v)}")
    return float(v)


def object_id(v, where: str, what: str = "object id") -> int:
    if not _is_whole(v) or not 0 < int(v) <= MAX_OBJECT_ID:
        _fail(where, f"{what} should be an integer from 1 to {MAX_OBJECT_ID}, got {show(v)}")
    return int(v)


def object_ids(ids: list, where: str) -> None:
    """The object values of one label PNG: positive ids, not more of them than the limit."""
    cap = limits.max_objects()
    if len(ids) > cap:
        _fail(where, f"{len(ids):,} distinct object values is over the limit of {cap:,} objects in one frame "
              "(raise ANNOTATOR_MAX_OBJECTS to allow it)")
    for v in ids:
        object_id(v, where, "object value")


def finite_number(v, where: str, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        _fail(where, f"{what} should be a finite number, got {show(v)}")
    return float(v)


# ----------------------------------------------------------------------------- coordinates
def coordinates(values, width: int, height: int, where: str, what: str = "coordinates") -> np.ndarray:
    """Flat [x0, y0, x1, y1, ...] numbers -> (n, 2) float64, refused unless every one is a finite
    number within one frame size of the frame."""
    if not isinstance(values, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        _fail(where, f"{what} should be numbers")
    if len(values) % 2:
        _fail(where, f"{what} need an even count (x, y pairs), got {len(values)}")
    try:
        a = np.asarray(values, np.float64).reshape(-1, 2)
    except OverflowError:  # an integer too large for a float
        _fail(where, f"{what} hold a number too large")
    if not np.isfinite(a).all():
        _fail(where, f"{what} hold a non-finite number (NaN or infinity)")
    margin = float(max(width, height))
    lo = -margin
    if a.size and (a.min() < lo or (a[:, 0] > width + margin).any() or (a[:, 1] > height + margin).any()):
        bad = a[(a[:, 0] < lo) | (a[:, 1] < lo) | (a[:, 0] > width + margin) | (a[:, 1] > height + margin)][0]
        _fail(where, f"point ({bad[0]:.6g}, {bad[1]:.6g}) lies far outside the {width}x{height} frame "
              f"(allowed: within {int(margin)} pixels of it)")
    return a


def polygons(polys, width: int, height: int, where: str) -> list[list[float]]:
    """One annotation's polygons (lists of flat coordinates), checked: coordinates as above,
    at most limits.max_vertices() vertices and limits.max_outline() pixels of outline in all,
    so rasterising them is bounded. Polygons under 3 points (no area) are dropped."""
    cap_v, cap_o = limits.max_vertices(), limits.max_outline()
    lens = []
    for k, poly in enumerate(polys):
        if not isinstance(poly, (list, tuple)):
            _fail(f"{where}[{k}]", "a polygon should be a list of numbers")
        if len(poly) % 2:
            _fail(f"{where}[{k}]", f"a polygon needs an even number of coordinates, got {len(poly)}")
        lens.append(len(poly) // 2)
    if sum(lens) > cap_v:
        _fail(where, f"{sum(lens):,} polygon vertices in one annotation is over the limit of {cap_v:,} "
              "(raise ANNOTATOR_MAX_VERTICES to allow it)")
    # all polygons at once (one array): a file of many tiny polygons costs no more than one
    a = coordinates([v for poly in polys for v in poly], width, height, where, "polygon coordinates")
    n = np.asarray(lens, np.int64)
    keep = n >= 3
    if not keep.any():
        return []
    starts = np.concatenate(([0], np.cumsum(n)[:-1]))
    nxt = np.arange(len(a)) + 1
    nxt[(starts + n - 1)[n > 0]] = starts[n > 0]            # each polygon closes on its first point
    # pycocotools steps along each edge one (scaled) pixel at a time: Chebyshev lengths
    step = np.abs(a[nxt] - a).max(axis=1) if len(a) else np.zeros(0)
    in_kept = np.repeat(keep, n)
    outline = float(step[in_kept].sum())
    if outline > cap_o:
        _fail(where, f"polygon outline of {outline:,.0f} pixels is over the limit of {cap_o:,} "
              "(raise ANNOTATOR_MAX_OUTLINE to allow it)")
    flat = a.reshape(-1).tolist()
    out, pos = [], 0
    for k in range(len(lens)):
        m = 2 * lens[k]
        if lens[k] >= 3:
            out.append(flat[pos:pos + m])
        pos += m
    return out


def uncompressed_counts(counts, h: int, w: int, where: str) -> list[int]:
    """Run lengths of an uncompressed RLE: whole non-negative numbers, each below 2^32, adding
    up to exactly h*w."""
    total = 0
    out = []
    for c in counts:
        if not _is_whole(c) or c < 0:
            _fail(where, "uncompressed RLE counts must be non-negative integers")
        c = int(c)
        if c > MAX_RUN:
            _fail(where, f"uncompressed RLE run of {c:,} pixels is over 2^32 - 1")
        total += c
        out.append(c)
    if total != h * w:
        _fail(where, f"RLE counts cover {total} pixels, expected {h * w} ({h}x{w})")
    return out
