"""Property tests: random projects survive every format's export -> import.

RLE formats (COCO, YouTube-VIS, SA-V, labelme mask shapes) and DAVIS (non-overlapping objects)
must give back the same pixels bit for bit. Polygon modes must give back exactly the mask with
its enclosed holes filled (fill_holes), which is all a union-of-polygons can express.
"""
from pathlib import Path

import numpy as np
from fmt_synth import fill_holes, fill_holes_centre
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from annotator.core import rle
from annotator.core.store import Project
from annotator.formats.base import _rle_total
from annotator.formats.polygons import mask_to_polygons, polygons_to_mask
from annotator.formats.registry import get_format

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def scenes(draw, overlap=True):
    h, w = draw(st.integers(2, 14)), draw(st.integers(2, 14))
    n_frames = draw(st.integers(1, 4))
    n_img_tracks = draw(st.integers(0, 3))
    n_vid_tracks = draw(st.integers(1, 3))
    if overlap:
        img = [draw(arrays(np.bool_, (h, w))) for _ in range(n_img_tracks)]
        vid = [draw(arrays(np.bool_, (n_frames, h, w))) for _ in range(n_vid_tracks)]
    else:  # one label map per frame: objects never overlap
        lab_i = draw(arrays(np.uint8, (h, w), elements=st.integers(0, n_img_tracks)))
        lab_v = draw(arrays(np.uint8, (n_frames, h, w), elements=st.integers(0, n_vid_tracks)))
        img = [lab_i == k + 1 for k in range(n_img_tracks)]
        vid = [lab_v == k + 1 for k in range(n_vid_tracks)]
    return h, w, n_frames, img, vid


def build(folder: Path, scene) -> Project:
    h, w, n, img, vid = scene
    p = Project.create(folder / "src.annotator")
    cat = p.add_category("thing")
    i = p.add_item(folder / "m" / "pic.png", "image", w, h)
    for m in img:
        t = p.add_track(i.id, cat.id)
        if m.any():
            p.set_mask(t.id, 0, m)
    v = p.add_item(folder / "m" / "clip.mp4", "video", w, h, num_frames=n, fps=10)
    for ms in vid:
        t = p.add_track(v.id, cat.id)
        for f in range(n):
            if ms[f].any():
                p.set_mask(t.id, f, ms[f])
    return p


def by_key(p: Project, video_only=False) -> dict:
    out = {}
    for it in p.items():
        if video_only and it.kind == "image":
            continue
        for t in p.tracks(it.id):
            for m in p.masks(track_id=t.id):
                mm = m.mask()
                if mm.any():
                    out[(Path(it.name).stem, t.obj_id, m.frame)] = mm
    return out


def roundtrip(tmp_path_factory, scene, fmt, out_name, video_only=False, transform=None, **opts):
    folder = tmp_path_factory.mktemp("prop")
    src = build(folder, scene)
    want = by_key(src, video_only)
    if not want:
        return
    f = get_format(fmt)
    out = folder / out_name
    f.export(src, out, **opts)
    dst = Project.create(folder / "dst.annotator")
    f.load(dst, out, **({"require_media": False} if fmt in ("coco", "ytvis", "labelme") else {}))
    got = by_key(dst)
    assert sorted(got) == sorted(want)
    for k, m in want.items():
        assert np.array_equal(got[k], transform(m) if transform else m), k
    src.close()
    dst.close()


@given(scenes())
@settings(max_examples=20, **SETTINGS)
def test_coco_rle(tmp_path_factory, scene):
    roundtrip(tmp_path_factory, scene, "coco", "c.json")


@given(scenes())
@settings(max_examples=15, **SETTINGS)
def test_coco_polygons(tmp_path_factory, scene):
    roundtrip(tmp_path_factory, scene, "coco", "c.json", transform=fill_holes, segmentation="polygon")


@given(scenes())
@settings(max_examples=15, **SETTINGS)
def test_ytvis(tmp_path_factory, scene):
    roundtrip(tmp_path_factory, scene, "ytvis", "y.json", video_only=True)


@given(scenes())
@settings(max_examples=15, **SETTINGS)
def test_sav(tmp_path_factory, scene):
    roundtrip(tmp_path_factory, scene, "sav", "clip_manual.json", video_only=True)


@given(scenes(overlap=False))
@settings(max_examples=15, **SETTINGS)
def test_davis(tmp_path_factory, scene):
    roundtrip(tmp_path_factory, scene, "davis", "davis_out")


@given(scenes())
@settings(max_examples=15, **SETTINGS)
def test_labelme_masks(tmp_path_factory, scene):
    roundtrip(tmp_path_factory, scene, "labelme", "lm", shapes="mask")


@given(scenes())
@settings(max_examples=10, **SETTINGS)
def test_labelme_polygons(tmp_path_factory, scene):
    roundtrip(tmp_path_factory, scene, "labelme", "lm", transform=fill_holes_centre)  # pixel-centre outlines


masks = st.integers(1, 30).flatmap(lambda h: st.integers(1, 30).flatmap(lambda w: arrays(np.bool_, (h, w))))


@given(masks)
@settings(max_examples=200, deadline=None)
def test_pixel_edge_polygons_are_exact_up_to_holes(m):
    polys = mask_to_polygons(m)
    back = polygons_to_mask(polys, *m.shape) if polys else np.zeros(m.shape, bool)
    assert np.array_equal(back, fill_holes(m))


@given(masks)
@settings(max_examples=100, deadline=None)
def test_rle_validator_agrees_with_pycocotools(m):
    r = rle.encode(m)
    assert _rle_total(r["counts"]) == m.size
    assert np.array_equal(rle.decode(r), m)
