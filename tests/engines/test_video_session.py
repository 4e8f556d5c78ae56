"""LearnedVideoSession behaviour (not numbers: those are in tests/parity/test_sam2_parity.py).

Runs SAM 2.1 Hiera-T with synthetic weights at a 128-pixel input (the architecture accepts it:
every grid scales with image_size) so that a frame costs tens of milliseconds on 2 cores.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from annotator.bench.video import SyntheticVideo  # noqa: E402
from annotator.engines.protocols import VideoSession  # noqa: E402
from annotator.errors import AnnotatorError  # noqa: E402

SIZE = 128


@pytest.fixture(scope="module")
def model_card():
    from annotator.engines.registry import get_card
    from annotator.engines.video import build_model

    card = get_card("sam2.1_hiera_tiny")
    small = {"name": "sam2.1_hiera_tiny", "arch": dict(card.arch, image_size=SIZE),
             "input": dict(card.input, image_size=SIZE), "checkpoint": card.checkpoint}
    return build_model(small, "random"), small


def _session(model_card, frames=12, **kw):
    from annotator.engines.video import LearnedVideoSession

    model, card = model_card
    s = LearnedVideoSession(card, model, **kw)
    src = SyntheticVideo(frames, width=160, height=120, discs=3)
    s.open(src)
    return s, src


def _click(src, k, t=0):
    cx, cy = src.centre(k, t)
    return np.array([[cx, cy]], np.float32), np.array([1], np.int32)


def test_protocol_and_errors(model_card):
    from annotator.engines.video import LearnedVideoSession

    model, card = model_card
    s = LearnedVideoSession(card, model)
    assert isinstance(s, VideoSession)
    with pytest.raises(AnnotatorError):
        s.add_prompt(0, 1, *_click(SyntheticVideo(3, 160, 120), 0))
    s.open(SyntheticVideo(3, 160, 120))
    with pytest.raises(AnnotatorError, match="outside"):
        s.add_prompt(7, 1, np.array([[5.0, 5.0]]), np.array([1]))
    with pytest.raises(AnnotatorError):
        s.add_prompt(0, 1)
    with pytest.raises(AnnotatorError):
        list(s.propagate(0, "sideways"))


def test_prompt_returns_masks_of_every_object_on_the_frame(model_card):
    s, src = _session(model_card, 4)
    out1 = s.add_prompt(0, 1, *_click(src, 0))
    assert set(out1) == {1} and out1[1].shape == (120, 160) and out1[1].dtype == bool
    out2 = s.add_prompt(0, 2, box=np.array([10, 10, 60, 50], np.float32))
    assert set(out2) == {1, 2}
    np.testing.assert_array_equal(out2[1], out1[1])


def test_features_once_per_frame_for_all_objects(model_card):
    s, src = _session(model_card, 6)
    for k in range(3):
        s.add_prompt(0, k + 1, *_click(src, k))
    frames = [t for t, masks in s.propagate(0) if set(masks) == {1, 2, 3}]
    assert frames == list(range(6))
    # frame 0 once for the prompts (cached), then once per new frame: 6 encodes for 3 objects
    assert s.timing["encoder_calls"] == 6


def test_directions_and_stop(model_card):
    s, src = _session(model_card, 8)
    s.add_prompt(4, 1, *_click(src, 0, 4))
    assert [t for t, _ in s.propagate(4, "forward", stop=6)] == [4, 5, 6]
    assert [t for t, _ in s.propagate(4, "backward", stop=2)] == [4, 3, 2]
    assert [t for t, _ in s.propagate(4, "both")] == [4, 5, 6, 7, 4, 3, 2, 1, 0]
    # the caller may stop early; what was yielded stays valid
    it = s.propagate(0)
    t, masks = next(it)
    assert t == 0 and 1 in masks


def test_correction_is_kept_and_other_objects_untouched(model_card):
    s, src = _session(model_card, 10)
    s.add_prompt(0, 1, *_click(src, 0))
    s.add_prompt(0, 2, *_click(src, 1))
    first = {t: {k: v.copy() for k, v in m.items()} for t, m in s.propagate(0)}
    # a negative click in the middle of object 1 on frame 5
    pts, _ = _click(src, 0, 5)
    corrected = s.add_prompt(5, 1, pts, np.array([0], np.int32))[1]
    lowres_corr = s.output(5, 1).pred_masks.clone()
    second = dict(s.propagate(5))
    np.testing.assert_array_equal(second[5][1], corrected)
    # object 2 is tracked exactly as before (its memory did not change)
    for t in range(5, 10):
        np.testing.assert_array_equal(second[t][2], first[t][2])
    # a full re-propagation from frame 0 does not overwrite the correction (it is a cond frame)
    third = dict(s.propagate(0))
    np.testing.assert_array_equal(third[5][1], corrected)
    assert torch.equal(s.output(5, 1).pred_masks, lowres_corr)
    assert 5 in s.objs[1].cond


def test_new_object_after_propagation_does_not_disturb_others(model_card):
    s, src = _session(model_card, 6)
    s.add_prompt(0, 1, *_click(src, 0))
    before = {t: m[1].copy() for t, m in s.propagate(0)}
    calls = s.timing["memory_calls"]
    s.add_prompt(2, 3, *_click(src, 2, 2))
    after = dict(s.propagate(0))
    assert set(after[3]) == {1, 3}
    for t in range(6):
        np.testing.assert_array_equal(after[t][1], before[t])
    # object 1 was reused, not recomputed: 1 prompt call + object 3 on frames 0,1,3,4,5
    assert s.timing["memory_calls"] - calls == 1 + 5


def test_memory_bank_is_bounded(model_card):
    s, src = _session(model_card, 40, keep_frames=8)
    s.add_prompt(0, 1, *_click(src, 0))
    sizes = []
    for t, _ in s.propagate(0):
        sizes.append(s.memory_bytes())
        assert len(s.objs[1].non_cond) <= 8
    assert max(sizes[20:]) == max(sizes[10:20])  # flat once the window is full
    # no mask is kept per frame: what the session holds stays flat over the whole video
    assert s.held_outputs() <= 1 + 8
    assert not any(hasattr(o, "masks") for o in s.objs.values())
    assert s.mask(0, 1).shape == (120, 160)  # the conditioning frame (kept for good)
    assert s.mask(39, 1) is not None  # the window around the last frame processed
    assert s.mask(3, 1) is None  # streamed to the caller long ago, not kept


def test_held_outputs_stay_bounded_over_a_long_propagation(model_card):
    s, src = _session(model_card, 80, keep_frames=8)
    s.add_prompt(0, 1, *_click(src, 0))
    s.add_prompt(0, 2, *_click(src, 1))
    held = [s.held_outputs() for _t, _m in s.propagate(0)]
    assert len(held) == 80
    assert max(held) <= 2 * (1 + 8) and held[-1] == held[40]  # 2 objects: cond frame + window


def test_mask_prompt_and_remove(model_card):
    s, src = _session(model_card, 4)
    m = np.zeros((120, 160), bool)
    m[30:80, 40:100] = True
    out = s.add_prompt(1, 7, mask=m)
    assert out[7][40:70, 50:90].all() and not out[7][:20].any()
    res = dict(s.propagate(1))
    assert set(res) == {1, 2, 3} and all(7 in v for v in res.values())
    s.remove_object(7)
    assert s.obj_ids == []
    s.reset()
    assert list(s.propagate(0)) == []
