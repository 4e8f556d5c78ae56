"""Property tests: random masks survive RLE and the store bit for bit."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from annotator.core import rle
from annotator.core.store import Project

masks = st.integers(1, 40).flatmap(
    lambda h: st.integers(1, 40).flatmap(lambda w: arrays(np.bool_, (h, w))))


@given(masks)
@settings(max_examples=200, deadline=None)
def test_rle_roundtrip(m):
    r = rle.encode(m)
    assert np.array_equal(rle.decode(r), m)
    assert rle.area(r) == int(m.sum())
    if m.any():
        ys, xs = np.nonzero(m)
        assert rle.bbox(r) == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


@given(st.lists(masks, min_size=1, max_size=4))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_store_roundtrip(tmp_path_factory, ms):
    path = tmp_path_factory.mktemp("prop") / "p.annotator"
    h, w = ms[0].shape
    ms = [m if m.shape == (h, w) else np.resize(m, (h, w)) for m in ms]
    with Project.create(path) as p:
        it = p.add_item(path.parent / "v.mp4", "video", w, h, num_frames=len(ms))
        t = p.add_track(it.id)
        for f, m in enumerate(ms):
            p.set_mask(t.id, f, m)
    with Project.open(path) as p:
        [t] = p.tracks()
        for f, m in enumerate(ms):
            assert np.array_equal(p.mask(t.id, f).mask(), m)
