"""The one per-image feature cache (engines/feature_cache.py) shared by SAM and CLIP sessions."""
import os

import numpy as np
import pytest

from annotator.engines.feature_cache import FeatureCache, trim


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTATOR_HOME", str(tmp_path))
    return tmp_path


def test_memory_then_disk_then_compute(home):
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    calls = []

    def compute():
        calls.append(1)
        return {"f": np.full((2, 3), 7.0, np.float32)}

    c = FeatureCache("embeddings", "m", items=2)
    k = c.key("m|w", img)
    assert c.get(k, compute)["f"].sum() == 42 and len(calls) == 1
    assert c.get(k, compute)["f"].sum() == 42 and len(calls) == 1  # memory
    c2 = FeatureCache("embeddings", "m")  # a new session: from disk, no recompute
    assert c2.get(k, compute)["f"].dtype == np.float32 and len(calls) == 1
    assert c.path(k).is_file() and not list(c.path(k).parent.glob("*.tmp"))
    # the key covers the tag and every pixel
    img2 = img.copy()
    img2[0, 0, 0] ^= 1
    assert len({k, c.key("m|w2", img), c.key("m|w", img2)}) == 3


def test_lru_bound_and_unreadable_file_recomputed(home):
    c = FeatureCache("embeddings", "m", items=2, disk=False)
    for i in range(5):
        c.get(str(i), lambda i=i: {"f": np.array([i])})
    assert len(c) == 2
    d = FeatureCache("embeddings", "m")
    d.path("bad").parent.mkdir(parents=True)
    d.path("bad").write_bytes(b"not an npz")
    assert d.get("bad", lambda: {"f": np.array([3])})["f"][0] == 3
    assert FeatureCache("embeddings", "m").load("bad")["f"][0] == 3  # replaced by the good one


def test_disk_trimmed_oldest_first(home):
    c = FeatureCache("embeddings", "m", disk_bytes=10**9)
    for i in range(4):
        c.save(str(i), {"f": np.zeros(1000, np.float64)})
        os.utime(c.path(str(i)), (1000 + i, 1000 + i))
    size = c.path("0").stat().st_size
    trim(c.root(), 2 * size)
    assert sorted(p.stem for p in c.path("0").parent.glob("*.npz")) == ["2", "3"]


def test_read_only_cache_does_not_stop_work(home):
    c = FeatureCache("embeddings", "m")
    c.root().parent.mkdir(parents=True, exist_ok=True)
    c.root().write_text("a file where the folder should be")
    assert c.get("k", lambda: {"f": np.array([1])})["f"][0] == 1
