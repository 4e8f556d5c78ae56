"""FrameSource: the one interface the rest of the app uses to read frames (video file, frame
folder or a single image), with a bounded LRU cache of decoded RGB frames."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from annotator.errors import MediaError


class FrameSource:
    """Base class: subclasses implement `_decode(i)` and set the metadata attributes."""

    path: str
    kind: str  # "video" | "frames" | "image"
    num_frames: int
    width: int
    height: int
    fps: float

    def __init__(self, cache_frames: int = 32):
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_max = max(0, int(cache_frames))
        # Decoders keep state (the demuxer position); GUI and worker threads may share a source.
        self._lock = threading.RLock()
        self._closed = False

    # -- public -------------------------------------------------------------------------------
    def frame(self, i: int) -> np.ndarray:
        """Frame i as HxWx3 uint8 RGB. The returned array must not be modified (it is cached)."""
        i = int(i)
        if not 0 <= i < self.num_frames:
            raise IndexError(f"{self.path}: frame {i} out of range 0..{self.num_frames - 1}")
        with self._lock:
            if self._closed:
                raise MediaError(f"{self.path}: source is closed")
            hit = self._cache.get(i)
            if hit is not None:
                self._cache.move_to_end(i)
                return hit
            try:
                arr = self._decode(i)
            except MediaError:
                raise
            except Exception as e:  # a decoder's own error on damaged data (a bit-flipped mp4...)
                raise MediaError(f"{self.path}: frame {i} cannot be decoded, the file is damaged "
                                 f"({type(e).__name__}: {str(e)[:120]})") from None
            arr.flags.writeable = False
            self._remember(i, arr)
            return arr

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, i: int) -> np.ndarray:
        return self.frame(i)

    def __iter__(self):
        for i in range(self.num_frames):
            yield self.frame(i)

    @property
    def cached_frames(self) -> list[int]:
        return list(self._cache)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cache.clear()
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass

    # -- for subclasses -----------------------------------------------------------------------
    def _remember(self, i: int, arr: np.ndarray) -> None:
        if self._cache_max == 0:
            return
        self._cache[i] = arr
        self._cache.move_to_end(i)
        while len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)

    def _decode(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.path!r}, {self.width}x{self.height}, "
                f"{self.num_frames} frames, {self.fps:g} fps)")
