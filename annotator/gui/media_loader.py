"""Decoding images and video frames off the GUI thread.

`FrameCache` (annotator.media.frame_cache) is shared by the display loader and the engine
worker, so a frame decoded for the screen is not decoded again for the encoder. `MediaLoader`
is a QThread: the newest display request wins (older ones still waiting are dropped),
neighbours of the shown frame are decoded ahead while idle, and probing new files
(reading their size and frame count) also happens here.
"""
from __future__ import annotations

import logging
import queue
import threading

import numpy as np
from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from annotator.media.frame_cache import FrameCache  # noqa: F401  (the loader's cache; re-exported)

log = logging.getLogger(__name__)


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
