"""The one frame cache: a frame wanted for display and by the engine is decoded once."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from annotator.media.frame_cache import FrameCache
from media_synth import read_digit_frame, write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return str(write_video(tmp_path_factory.mktemp("fc") / "v.mp4", 40, gop=10))


class SlowFirstDecode(FrameCache):
    """Holds each real decode a while, so a second thread asks while the first decodes."""

    def __init__(self):
        super().__init__()
        self.decoding = threading.Event()
        self.threads: set[str] = set()

    def _decode(self, path, kind, frame):
        self.threads.add(threading.current_thread().name)
        self.decoding.set()
        time.sleep(0.3)
        return super()._decode(path, kind, frame)


def test_display_and_engine_share_one_decode(video):
    cache = SlowFirstDecode()
    view = cache.video(video, "video")  # what the video session reads (engines/video.py open)
    assert view.num_frames == 40
    got = {}

    def display():  # the loader's path (gui/media_loader.py)
        got["display"] = cache.get(video, "video", 7)

    t = threading.Thread(target=display, name="display")
    t.start()
    assert cache.decoding.wait(10)  # the display thread is decoding frame 7 now
    got["engine"] = view.frame(7)  # the engine asks for the same frame meanwhile
    t.join(10)
    assert cache.decodes == 1 and cache.threads == {"display"}
    assert got["engine"] is got["display"] and read_digit_frame(got["engine"]) == 7
    # and the other way round: what the engine decoded, the display gets from the cache
    for i in range(8, 12):
        view.frame(i)
    assert all(cache.get(video, "video", i) is view.frame(i) for i in range(8, 12))
    assert cache.decodes == 5


def test_a_path_and_its_string_are_one_frame(video):
    from pathlib import Path

    cache = FrameCache()
    a = cache.get(Path(video), "video", 2)  # the GUI's items hold Paths, the engine's view a str
    assert cache.video(Path(video), "video").frame(2) is a and cache.peek((Path(video), "video", 2)) is a
    assert cache.decodes == 1


def test_a_failed_decode_is_not_cached(tmp_path):
    cache = FrameCache()
    with pytest.raises(Exception):
        cache.get(str(tmp_path / "missing.png"), "image", 0)
    assert cache.decodes == 0 and cache.peek((str(tmp_path / "missing.png"), "image", 0)) is None


def test_view_bounds_and_readonly(video):
    view = FrameCache().video(video, "video")
    with pytest.raises(IndexError):
        view.frame(40)
    a = view.frame(3)
    assert isinstance(a, np.ndarray) and not a.flags.writeable  # shared between threads: never written
