"""Decoding images and video frames off the GUI thread.

`FrameCache` is a byte-bounded LRU shared by the display loader and the engine worker,
so a frame decoded for the screen is not decoded again for the encoder. `MediaLoader`
is a QThread: the newest display request wins (older ones still waiting are dropped),
neighbours of the shown frame are decoded ahead while idle, and probing new files
(reading their size and frame count) also happens here.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

log = logging.getLogger(__name__)


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


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage in the raster paint engine's native 32-bit format, built in this thread: the GUI
    thread's QPixmap.fromImage then takes it as it is instead of converting every pixel of a
    24-bit image (0.4-3 ms per 1280x720 frame, holding the GIL)."""
    import cv2

    h, w = rgb.shape[:2]
    bgrx = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)  # little-endian 0xffRRGGBB
    return QImage(bgrx.data, w, h, 4 * w, QImage.Format.Format_RGB32).copy()


class MediaLoader(QThread):
    """Display-side decoding. Signals carry QImages built here, so the GUI only paints."""

    frameLoaded = Signal(int, object, object)  # gen, (path, kind, frame), QImage
    loadFailed = Signal(int, object, object)  # gen, key, exception
    probed = Signal(int, object)  # request id, list of (path, MediaInfo | Exception)

    def __init__(self, cache: FrameCache, parent=None):
        super().__init__(parent)
        self.cache = cache
        self._q: queue.Queue = queue.Queue()
        self._latest = 0
        self._ahead: list[tuple] = []
        self._lock = threading.Lock()

    # --- requests (GUI thread) ---
    def request(self, gen: int, path: str, kind: str, frame: int, ahead: list[tuple] = ()) -> None:
        with self._lock:
            self._latest = gen
            self._ahead = list(ahead)
        self._q.put(("load", gen, (path, kind, int(frame))))

    def probe(self, req_id: int, paths: list[str]) -> None:
        self._q.put(("probe", req_id, list(paths)))

    def stop(self) -> None:
        self._q.put(("stop", 0, None))
        self.wait(5000)

    # --- thread ---
    def run(self) -> None:
        from annotator.gui.threads import lower_current_thread_priority

        lower_current_thread_priority()
        threading.current_thread().name = "media-loader"  # names the thread in stack dumps
        while True:
            try:
                op, gen, arg = self._q.get(timeout=0.05)
            except queue.Empty:
                self._decode_ahead()
                continue
            if op == "stop":
                return
            if op == "probe":
                self._probe(gen, arg)
                continue
            with self._lock:
                stale = gen < self._latest
            if stale:  # the person already moved on
                continue
            try:
                rgb = self.cache.get(*arg)
                self.frameLoaded.emit(gen, arg, rgb_to_qimage(rgb))
            except Exception as e:  # reported to the GUI, which shows a dialog
                log.info("could not decode %s: %s", arg, e)
                self.loadFailed.emit(gen, arg, e)

    def _decode_ahead(self) -> None:
        with self._lock:
            if not self._ahead:
                return
            key = self._ahead.pop(0)
        if self.cache.peek(key) is None:
            try:
                self.cache.get(*key)
            except Exception as e:  # decoding ahead is best effort
                log.debug("decode-ahead of %s failed: %s", key, e)

    def _probe(self, req_id: int, paths: list[str]) -> None:
        from annotator.media import probe

        out = []
        for p in paths:
            try:
                out.append((p, probe(p)))
            except Exception as e:
                out.append((p, e))
        self.probed.emit(req_id, out)
