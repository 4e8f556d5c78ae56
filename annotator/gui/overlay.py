"""Builds the mask overlay image off the GUI thread.

Decoding RLEs, filling colours and tracing outlines for a 1280x720 frame with a few
objects costs tens of milliseconds; done on the GUI thread it made the window stutter
during propagation. Here the newest request wins, decoded masks are cached by their RLE
counts, and the result is a premultiplied ARGB QImage the canvas only has to show.
"""
from __future__ import annotations

import queue
import threading
from collections import OrderedDict

import cv2
import numpy as np
from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage


def decode_rle(r: dict) -> np.ndarray:
    from annotator.core import rle

    return rle.decode(r)


def compose(size: tuple[int, int], layers: list, opacity: float, outlines_only: bool,
            decode=decode_rle) -> np.ndarray:
    """BGRA premultiplied uint8 [h, w, 4] (QImage ARGB32_Premultiplied byte order on little-endian).

    layers: (mask bool HxW or RLE dict, (r, g, b), selected)."""
    w, h = size
    ovl = np.zeros((h, w, 4), np.uint8)
    a = 0 if outlines_only else int(round(255 * opacity))
    thick_base = max(1, int(round(max(w, h) / 500)))
    for m, (r, g, b), selected in layers:
        mask = decode(m) if isinstance(m, dict) else m
        if mask is None or mask.shape != (h, w):
            continue
        m8 = np.ascontiguousarray(mask, dtype=np.uint8)
        if a:
            fill = np.array([b * a // 255, g * a // 255, r * a // 255, a], np.uint8)
            ovl[mask] = fill
        contours, _ = cv2.findContours(m8, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        if selected or outlines_only:
            cv2.drawContours(ovl, contours, -1, (b, g, r, 255), thick_base * (2 if selected else 1) + 1)
        else:
            al = 230
            cv2.drawContours(ovl, contours, -1, (b * al // 255, g * al // 255, r * al // 255, al), thick_base)
    return ovl


def to_qimage(bgra: np.ndarray) -> QImage:
    h, w = bgra.shape[:2]
    return QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()


class OverlayBuilder(QThread):
    built = Signal(int, object, object)  # request id, token, QImage (None when there is nothing to show)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._q: queue.Queue = queue.Queue()
        self._latest = 0
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def request(self, req_id: int, token, size, layers, opacity, outlines_only) -> None:
        with self._lock:
            self._latest = req_id
        self._q.put((req_id, token, size, layers, opacity, outlines_only))

    def stop(self) -> None:
        self._q.put(None)
        self.wait(5000)

    def _decode(self, r: dict) -> np.ndarray:
        key = f"{r['size']}:{r['counts']}"
        m = self._cache.get(key)
        if m is None:
            m = decode_rle(r)
            self._cache[key] = m
            while len(self._cache) > 64:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return m

    def run(self) -> None:
        from annotator.gui.threads import lower_current_thread_priority

        lower_current_thread_priority()
        threading.current_thread().name = "overlay-builder"  # names the thread in stack dumps
        while True:
            job = self._q.get()
            if job is None:
                return
            req_id, token, size, layers, opacity, outlines_only = job
            with self._lock:
                if req_id < self._latest:
                    continue  # a newer overlay was asked for
            if not layers or not size[0]:
                self.built.emit(req_id, token, None)
                continue
            img = to_qimage(compose(size, layers, opacity, outlines_only, self._decode))
            self.built.emit(req_id, token, img)
