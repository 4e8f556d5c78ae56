"""Media size limits, the one home of the rule: how many pixels a frame and how many frames
an item may have. Applied to decoded media (annotator.media) and to sizes that files merely
declare (the store's add_item, so every importer gets it), before anything is allocated.

ANNOTATOR_MAX_IMAGE_PIXELS and ANNOTATOR_MAX_FRAMES override the defaults.
"""
from __future__ import annotations

import os

# 20k x 20k: larger "images" are almost always decompression or size bombs.
DEFAULT_MAX_PIXELS = 20_000 * 20_000
# 10 million frames: four days of 30 fps video. A declared count above it is a bomb.
DEFAULT_MAX_FRAMES = 10_000_000


def _env_int(name: str, default: int) -> int:
    env = os.environ.get(name)
    if env:
        try:
            v = int(env)
            if v > 0:
                return v
        except ValueError:
            pass
    return default


def max_pixels() -> int:
    return _env_int("ANNOTATOR_MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS)


def max_frames() -> int:
    return _env_int("ANNOTATOR_MAX_FRAMES", DEFAULT_MAX_FRAMES)


def pixels_problem(width: int, height: int, limit: int | None = None) -> str | None:
    """Why a width x height frame is refused, or None when it is allowed."""
    limit = max_pixels() if limit is None else limit
    w, h = int(width), int(height)
    if w <= 0 or h <= 0:
        return f"invalid size {w}x{h}"
    if w * h > limit:
        return (f"{w}x{h} = {w * h:,} pixels is over the limit of {limit:,} (possible decompression "
                "or size bomb; raise ANNOTATOR_MAX_IMAGE_PIXELS to allow it)")
    return None


def frames_problem(num_frames: int, limit: int | None = None) -> str | None:
    """Why a frame count is refused, or None when it is allowed."""
    limit = max_frames() if limit is None else limit
    n = int(num_frames)
    if n <= 0:
        return f"invalid frame count {n}"
    if n > limit:
        return f"{n:,} frames is over the limit of {limit:,} (raise ANNOTATOR_MAX_FRAMES to allow it)"
    return None


# Annotation files: what a JSON document and its shapes may hold. A real file stays far below
# these; above them, parsing or rasterising would cost memory or time without end.
DEFAULT_MAX_JSON_BYTES = 2 * 1024 ** 3
# Vertices in one annotation's polygons together: our own pixel-edge polygons of a noisy
# 4k mask stay under this.
DEFAULT_MAX_VERTICES = 1_000_000
# Outline length (pixels) pycocotools walks to rasterise one annotation: it allocates about
# 100 bytes per pixel of outline, so this bounds one rasterisation to ~2 GB (a pixel-edge
# outline of any mask is at most 2*(w+1)*(h+1), far more than real outlines reach).
DEFAULT_MAX_OUTLINE = 20_000_000
# Distinct objects in one label PNG (DAVIS, SA-V PNGs): each costs a pass over the frame.
DEFAULT_MAX_OBJECTS = 10_000


def max_json_bytes() -> int:
    return _env_int("ANNOTATOR_MAX_JSON_BYTES", DEFAULT_MAX_JSON_BYTES)


def max_vertices() -> int:
    return _env_int("ANNOTATOR_MAX_VERTICES", DEFAULT_MAX_VERTICES)


def max_outline() -> int:
    return _env_int("ANNOTATOR_MAX_OUTLINE", DEFAULT_MAX_OUTLINE)


def max_objects() -> int:
    return _env_int("ANNOTATOR_MAX_OBJECTS", DEFAULT_MAX_OBJECTS)
