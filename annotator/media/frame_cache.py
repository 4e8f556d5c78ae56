"""A byte-bounded, thread-safe LRU of decoded RGB frames, shared by the display loader and the
engine worker so a frame decoded for the screen is not decoded again for the encoder. No Qt."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


class FrameCache:
    """Thread-safe LRU of decoded RGB frames keyed by (path, kind, frame)."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._d: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # One open FrameSource per (thread, path): PyAV containers are not thread-safe.
        self._sources = threading.local()

    def peek(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            a = self._d.get(key)
            if a is not None:
                self._d.move_to_end(key)
            return a

    def put(self, key: tuple, rgb: np.ndarray) -> None:
        with self._lock:
            if key in self._d:
                return
            self._d[key] = rgb
            self._bytes += rgb.nbytes
            while self._bytes > self.max_bytes and len(self._d) > 1:
                _, old = self._d.popitem(last=False)
                self._bytes -= old.nbytes

    def get(self, path: str, kind: str, frame: int = 0) -> np.ndarray:
        """Decoded RGB uint8 frame; decodes on a miss (call from a worker thread only)."""
        key = (path, kind, int(frame))
        a = self.peek(key)
        if a is not None:
            return a
        if kind == "image":
            from annotator.media import load_image

            a = load_image(path)
        else:
            a = self.source(path).frame(int(frame))
        a = np.ascontiguousarray(a)
        self.put(key, a)
        return a

    def source(self, path: str):
        from annotator.media import open_video

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
            src = srcs[path] = open_video(path)
        return src
