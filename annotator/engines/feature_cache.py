"""Per-image features cached by content: an LRU in memory and files on disk.

The SAM-family image sessions (learned.py) and the CLIP session (clip_session.py) share this
one cache rule: the key is a sha256 over the session's tag and the pixels, files are written
atomically (a reader never sees half a file), an unreadable file is dropped and recomputed,
and the disk folder is trimmed to a size budget, least recently used first. Values are dicts
of numpy arrays, stored as .npz without pickles. No torch here.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

MEMORY_ITEMS = 8
DISK_BYTES = 1 << 30  # per cache folder (embeddings/, clip_dense/): oldest files go beyond this

Arrays = dict[str, np.ndarray]


class FeatureCache:
    def __init__(self, folder: str, name: str, disk: bool = True, items: int = MEMORY_ITEMS,
                 disk_bytes: int = DISK_BYTES) -> None:
        self.folder, self.name = folder, name
        self.disk = disk
        self.items = items
        self.disk_bytes = disk_bytes
        self._mem: OrderedDict[str, Arrays] = OrderedDict()

    @staticmethod
    def key(tag: str, rgb: np.ndarray) -> str:
        h = hashlib.sha256()
        h.update(f"{tag}|{rgb.shape}|{rgb.dtype}".encode())
        h.update(np.ascontiguousarray(rgb).data)
        return h.hexdigest()

    def root(self) -> Path:
        from annotator.paths import cache_dir

        return cache_dir() / self.folder

    def path(self, key: str) -> Path:
        return self.root() / self.name / f"{key}.npz"

    def __len__(self) -> int:
        return len(self._mem)

    def clear_memory(self) -> None:
        self._mem.clear()

    def get(self, key: str, compute: Callable[[], Arrays]) -> Arrays:
        """The cached arrays for `key`: from memory, else disk, else `compute()` (then stored)."""
        hit = self._mem.get(key)
        if hit is not None:
            self._mem.move_to_end(key)
            return hit
        hit = self.load(key)
        if hit is None:
            hit = compute()
            self.save(key, hit)
        self._mem[key] = hit
        while len(self._mem) > self.items:
            self._mem.popitem(last=False)
        return hit

    def load(self, key: str) -> Arrays | None:
        """The arrays stored on disk for `key`, or None (missing, unreadable, or disk off)."""
        if not self.disk:
            return None
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, EOFError) as e:
            log.warning("dropping unreadable cached features %s: %s", p, e)
            p.unlink(missing_ok=True)
            return None
        os.utime(p)  # recently used: trimmed last
        return out

    def save(self, key: str, arrays: Arrays) -> None:
        if not self.disk:
            return
        p = self.path(key)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f"{key}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, p)
            trim(self.root(), self.disk_bytes)
        except OSError as e:  # a full or read-only cache must not stop the work
            log.warning("cannot write feature cache %s: %s", p, e)


def trim(root: Path, budget: int) -> None:
    """Delete the least recently used .npz files under `root` until they fit in `budget` bytes."""
    files = []
    for p in root.rglob("*.npz"):
        try:
            st = p.stat()
        except OSError:
            continue
        files.append((st.st_mtime, st.st_size, p))
    total = sum(s for _, s, _ in files)
    for _, size, p in sorted(files):
        if total <= budget:
            break
        p.unlink(missing_ok=True)
        total -= size
