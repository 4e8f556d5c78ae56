"""A byte-bounded, thread-safe LRU of decoded RGB frames: the one frame cache of a process.

The display loader, the image encoder and the video session all read frames through it
(the session through `FrameCache.video`, a FrameSource-like view), so a frame is decoded once
however many of them want it, even when two threads ask for it at the same moment. No Qt."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


def _key(path, kind: str, frame) -> tuple:
    """(path, kind, frame) with the path as a string: a Path and its str are one frame."""
    return (str(path), kind, int(frame))


class FrameCache:
    """Thread-safe LRU of decoded RGB frames keyed by (path, kind, frame)."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._d: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._decoding: dict[tuple, threading.Event] = {}  # key -> set when its decode ends
        self.decodes = 0  # frames decoded (misses), for tests and benches
        # One open FrameSource per (thread, path): each thread keeps its own decoder position
        # (sequential reads stay cheap) and PyAV containers are not shared across threads.
        self._sources = threading.local()

    def peek(self, key: tuple) -> np.ndarray | None:
        key = _key(*key)
        with self._lock:
            a = self._d.get(key)
            if a is not None:
                self._d.move_to_end(key)
            return a

    def put(self, key: tuple, rgb: np.ndarray) -> None:
        with self._lock:
            self._put(_key(*key), rgb)

    def _put(self, key: tuple, rgb: np.ndarray) -> None:
        if key in self._d:
            return
        self._d[key] = rgb
        self._bytes += rgb.nbytes
        while self._bytes > self.max_bytes and len(self._d) > 1:
            _, old = self._d.popitem(last=False)
            self._bytes -= old.nbytes

    def get(self, path: str, kind: str, frame: int = 0) -> np.ndarray:
        """Decoded RGB uint8 frame (read-only); decodes on a miss (worker threads only). A
        frame another thread is decoding right now is waited for, not decoded again."""
        key = _key(path, kind, frame)
        while True:
            with self._lock:
                a = self._d.get(key)
                if a is not None:
                    self._d.move_to_end(key)
                    return a
                busy = self._decoding.get(key)
                if busy is None:
                    done = self._decoding[key] = threading.Event()
                    break
            busy.wait()  # then look again: decoded (a hit), or it failed (try ourselves)
        try:
            a = np.ascontiguousarray(self._decode(key[0], kind, key[2]))
            with self._lock:
                self.decodes += 1
                self._put(key, a)
            return a
        finally:
            with self._lock:
                self._decoding.pop(key, None)
            done.set()

    def _decode(self, path: str, kind: str, frame: int) -> np.ndarray:
        if kind == "image":
            from annotator.media import load_image

            return load_image(path)
        return self.source(path).frame(frame)

    def source(self, path: str):
        """This thread's open FrameSource for `path` (it keeps no frames itself: this cache does)."""
        from annotator.media import open_video

        path = str(path)
        srcs = getattr(self._sources, "d", None)
        if srcs is None:
            srcs = self._sources.d = {}
        src = srcs.get(path)
        if src is None:
            if len(srcs) > 4:  # bound open containers per thread
                for p in list(srcs)[:-4]:
                    old = srcs.pop(p)
                    close = getattr(old, "close", None)
                    if close:
                        close()
            src = srcs[path] = open_video(path, cache_frames=0)
        return src

    def video(self, path: str, kind: str) -> "CachedVideo":
        """A FrameSource-like view of one video whose frames come from this cache (for
        engines.video's session.open)."""
        return CachedVideo(self, str(path), kind)


class CachedVideo:
    """num_frames, width, height, fps and frame(i) of a video, read through a FrameCache."""

    def __init__(self, cache: FrameCache, path: str, kind: str):
        self.cache, self.path, self.kind = cache, path, kind
        src = cache.source(path)
        self.num_frames, self.width, self.height = int(src.num_frames), int(src.width), int(src.height)
        self.fps = float(getattr(src, "fps", 0.0) or 0.0)

    def frame(self, i: int) -> np.ndarray:
        i = int(i)
        if not 0 <= i < self.num_frames:
            raise IndexError(f"{self.path}: frame {i} out of range 0..{self.num_frames - 1}")
        return self.cache.get(self.path, self.kind, i)

    def __len__(self) -> int:
        return self.num_frames
