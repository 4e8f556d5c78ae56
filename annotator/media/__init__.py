"""Image and video decoding (no Qt, no torch). Frames decode on demand; a video is never held
whole in memory.

    load_image(path) -> HxWx3 uint8 RGB           probe(path) -> MediaInfo
    open_video(path, cache_frames=32) -> FrameSource (video file, frame folder, or one image)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from annotator.errors import MediaError
from annotator.media.frames import FrameFolderSource, ImageSource, list_frame_files
from annotator.media.image import IMAGE_EXTENSIONS, image_size, load_image
from annotator.media.source import FrameSource
from annotator.media.video import VIDEO_EXTENSIONS, VideoFileSource

__all__ = ["MediaError", "MediaInfo", "FrameSource", "load_image", "image_size", "probe", "open_video",
           "media_kind", "read_frame", "list_frame_files", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS"]


@dataclass(frozen=True)
class MediaInfo:
    kind: str  # "image" | "video" | "frames"
    width: int
    height: int
    num_frames: int
    fps: float
    path: str = ""


def media_kind(path: str | os.PathLike) -> str:
    """'frames' for a folder, 'image' or 'video' by extension; MediaError if neither."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: file not found")
    if p.is_dir():
        return "frames"
    ext = p.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    raise MediaError(f"{p}: unsupported file type '{ext or p.name}'")


def open_video(path: str | os.PathLike, cache_frames: int = 32) -> FrameSource:
    kind = media_kind(path)
    if kind == "frames":
        return FrameFolderSource(path, cache_frames=cache_frames)
    if kind == "video":
        return VideoFileSource(path, cache_frames=cache_frames)
    return ImageSource(path, cache_frames=cache_frames)


open_media = open_video


def read_frame(path: str | os.PathLike, frame: int = 0):
    """RGB of one frame of any media: the image itself, or frame `frame` of a video or frame
    folder (opened for this one read and closed)."""
    if media_kind(path) == "image":
        return load_image(path)
    with open_video(path, cache_frames=1) as src:
        return src.frame(int(frame))


def probe(path: str | os.PathLike) -> MediaInfo:
    """Kind, size, frame count and fps without decoding more than one frame."""
    kind = media_kind(path)
    if kind == "image":
        w, h = image_size(path)
        return MediaInfo("image", w, h, 1, 0.0, str(path))
    with open_video(path, cache_frames=1) as src:
        return MediaInfo(kind, src.width, src.height, src.num_frames, src.fps, str(path))
