"""Text prompt -> masks: regions of a probability map, box NMS, map -> prompts -> masks with a
real image engine, the whole path with a (small, synthetic) CLIP, and storing the result in a
project as `auto` objects in one undo step."""
from __future__ import annotations

import numpy as np
import pytest

from annotator.core.box_nms import box_iou, box_nms
from annotator.engines.classic import ClassicImageSession
from annotator.engines.text_find import FindOptions, add_to_project, find_by_text, masks_from_map, regions


def two_squares():
    """A grey image with a red and a blue square, and a map that is high on both."""
    rgb = np.full((120, 160, 3), 128, np.uint8)
    rgb[20:60, 20:60] = (220, 30, 30)
    rgb[60:110, 100:150] = (30, 40, 210)
    prob = np.full((120, 160), 0.05, np.float32)
    prob[22:58, 22:58] = 0.9
    prob[62:108, 102:148] = 0.7
    prob[0:2, 0:2] = 0.95  # a speck below min_area
    return rgb, prob


def test_regions_box_point_and_min_area():
    _, prob = two_squares()
    rs = regions(prob, 0.5, min_area=0.001)
    assert [r["box"] for r in rs] == [[102.0, 62.0, 148.0, 108.0], [22.0, 22.0, 58.0, 58.0]]  # mean x area order
    for r in rs:
        x, y = r["point"]
        x0, y0, x1, y1 = r["box"]
        assert x0 + 10 < x < x1 - 10 and y0 + 10 < y < y1 - 10  # deep inside
    assert len(regions(prob, 0.5, min_area=0.0)) == 3
    assert regions(prob, 0.99) == []


def test_box_nms():
    boxes = [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 9]]
    assert box_nms(boxes, [0.5, 0.9, 0.3, 0.9], 0.7) == [1, 2]
    assert box_nms(boxes, [0.5, 0.9, 0.3, 0.9], 0.95) == [1, 3, 0, 2]
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10])[0, 0] == pytest.approx(1 / 3)
    assert box_nms([], []) == []


def test_masks_from_map_segments_each_region_with_the_image_engine():
    rgb, prob = two_squares()
    sess = ClassicImageSession()
    sess.set_image(rgb)
    found = masks_from_map(sess, prob, "square", FindOptions(threshold=0.5))
    assert len(found) == 2
    truth = [np.zeros(prob.shape, bool) for _ in range(2)]
    truth[0][20:60, 20:60] = True
    truth[1][60:110, 100:150] = True
    for f in found:
        ious = [(f.mask & t).sum() / (f.mask | t).sum() for t in truth]
        assert max(ious) > 0.8, ious
        assert f.clip_score == pytest.approx(float(prob[f.mask].mean()), rel=1e-6)
        assert f.score == pytest.approx(f.mask_score * f.clip_score)
    assert found[0].score >= found[1].score or found[0].clip_score < found[1].clip_score
    strict = masks_from_map(sess, prob, "square", FindOptions(threshold=0.5, min_clip_score=0.7))
    assert len(strict) == 1 and strict[0].clip_score >= 0.7
    twice = masks_from_map(sess, np.maximum(prob, 0), "square", FindOptions(threshold=0.5, nms_iou=0.0))
    assert len(twice) == 2  # disjoint objects survive even the strictest suppression


def test_find_by_text_end_to_end_with_clip(small_clip, clip_photos):
    from annotator.engines.clip_session import ClipSession

    rgb = clip_photos[0][::6, ::6].copy()
    cs = ClipSession(small_clip, disk_cache=False)
    sess = ClassicImageSession()
    opt = FindOptions(threshold=0.8, relative=True, max_per_label=3)
    found = find_by_text(cs, sess, rgb, ["truck", " ", "road"], opt)
    assert {f.label for f in found} <= {"truck", "road"} and found
    ds = cs.dense_scores(["truck", "road"], key_smoothing=True)
    for f in found:
        prob = ds.upsampled(["truck", "road"].index(f.label))
        assert f.mask.shape == rgb.shape[:2] and f.mask.any()
        assert prob[int(f.point[1]), int(f.point[0])] > 0.8 * prob.max() - 1e-6  # the click is in a region
        again = sess.predict(points=np.asarray([f.point], np.float32), labels=np.asarray([1]),
                             box=np.asarray(f.box, np.float32), multimask=False)
        assert (again.mask == f.mask).all()  # the mask is the image engine's answer to the prompt
        assert f.clip_score == pytest.approx(float(prob[f.mask].mean()), rel=1e-5)
    assert cs.dense_runs == 1
    assert find_by_text(cs, sess, rgb, [], opt) == []


def test_add_to_project_is_one_undo_step(tmp_path):
    from annotator.core.store import Project

    rgb, prob = two_squares()
    sess = ClassicImageSession()
    sess.set_image(rgb)
    found = masks_from_map(sess, prob, "car", FindOptions(threshold=0.5))
    found += masks_from_map(sess, prob, "truck", FindOptions(threshold=0.8))
    with Project.create(tmp_path / "p") as p:
        item = p.add_item(tmp_path / "img.png", "image", 160, 120)
        p.add_category("truck")
        tids = add_to_project(p, item.id, found, model="classic+clip_small")
        assert len(tids) == len(found) == 3
        cats = {c.name: c.id for c in p.categories()}
        assert set(cats) == {"car", "truck"}
        for tid, f in zip(tids, found):
            t = p.track(tid)
            assert t.category_id == cats[f.label]
            rec = p.mask(tid, 0)
            assert rec.source == "auto" and rec.prompts.box == f.box
        assert p.undo_label == "Find car, truck"
        p.undo()
        assert p.tracks(item.id) == [] and {c.name for c in p.categories()} == {"truck"}
        p.redo()
        assert len(p.tracks(item.id)) == 3
