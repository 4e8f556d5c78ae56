"""Generator pieces (point layout, clean-up) and the use case end to end with the classic
engine (no weights): COCO out, and objects of source 'auto' in a project as one undo step."""
from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.everything.generator import Options, hierarchical_candidates
from annotator.everything.masks import remove_small_regions


def test_hierarchical_candidates_layout_and_coverage():
    h = w = 256
    sparse = (np.array([[0.5 / 2, 0.5 / 2], [1.5 / 2, 0.5 / 2]]) * (w, h))  # 2 points
    cov = np.zeros((h, w), bool)
    pts = hierarchical_candidates(sparse, cov, h, w, points_per_side=8)  # stride 32
    # first point (64, 64): 8 neighbours + 3 right + 3 below + 1 diagonal
    first = pts[:15] * (w, h)
    assert len(pts) == 15 + 11  # the second (192, 64) has no room for +2 in x (192 + 64 = 256)
    assert first[0].tolist() == [32, 32] and first[1].tolist() == [32, 64]  # dx outer, dy inner
    assert first[-1].tolist() == [128, 128]
    cov[:, :100] = True  # covered where x < 100
    pts2 = hierarchical_candidates(sparse, cov, h, w, points_per_side=8) * (w, h)
    assert len(pts2) and (pts2[:, 0] >= 100).all()


def test_remove_small_regions_fills_holes_and_drops_islands():
    m = np.zeros((50, 50), bool)
    m[5:30, 5:30] = True
    m[15:17, 15:17] = False  # 4-pixel hole
    m[40:42, 40:42] = True  # 4-pixel island
    filled, changed = remove_small_regions(m, 10, "holes")
    assert changed and filled[15:17, 15:17].all() and filled[40:42, 40:42].all()
    clean, changed = remove_small_regions(filled, 10, "islands")
    assert changed and not clean[40:42, 40:42].any() and clean[5:30, 5:30].all()
    same, changed = remove_small_regions(clean, 10, "islands")
    assert not changed and np.array_equal(same, clean)


def test_options_from_fixture_dict_ignore_unknown_and_check_nms():
    o = Options.from_dict({"points_per_side": 16, "output_mode": "coco_rle", "point_grids": None})
    assert o.points_per_side == 16 and o.nms == "greedy"
    with pytest.raises(ValueError):
        Options.from_dict({"nms": "soft"})


@pytest.fixture
def small_image(tmp_path, shared_data):
    from PIL import Image

    im = Image.open(shared_data / "images_groceries.jpg").convert("RGB")
    im = im.resize((160, 120))
    p = tmp_path / "shelf.png"
    im.save(p)
    return p


def test_cli_coco_out_classic(small_image, tmp_path):
    from annotator.cli import main
    from annotator.core.rle import decode

    out = tmp_path / "out" / "auto.json"
    assert main(["segment-everything", str(small_image.parent), "--model", "classic", "--mode", "grid",
                 "--points-per-side", "3", "--nms", "fast", "-o", str(out)]) == 0
    coco = json.loads(out.read_text())
    assert coco["images"] == [{"id": 1, "file_name": "shelf.png", "width": 160, "height": 120}]
    anns = coco["annotations"]
    assert 1 <= len(anns) <= 9
    for a in anns:
        m = decode(a["segmentation"])
        assert m.shape == (120, 160) and m.sum() == a["area"] > 0
        x, y, bw, bh = a["bbox"]
        ys, xs = np.nonzero(m)
        assert [x, y, x + bw, y + bh] == [xs.min(), ys.min(), xs.max(), ys.max()]
        assert a["crop_box"] == [0, 0, 160, 120] and len(a["point_coords"]) == 1


def test_cli_into_project_one_undo_step(small_image, tmp_path, capsys):
    from annotator.cli import main
    from annotator.core.store import Project

    proj = tmp_path / "p.annotator"
    assert main(["new", str(proj)]) == 0
    assert main(["add", str(proj), str(small_image)]) == 0
    assert main(["segment-everything", str(proj), "--model", "classic", "--mode", "hierarchical",
                 "--points-per-side", "4"]) == 0
    with Project.open(proj) as p:
        masks = p.masks()
        assert masks and {m.source for m in masks} == {"auto"}
        n_cli = len(masks)
        assert len(p.tracks()) == n_cli
    assert main(["segment-everything", str(proj), "--model", "classic", "-o", str(tmp_path / "x.json")]) == 2
    assert "project" in capsys.readouterr().err

    # the use case the app will call: one undo step takes every added object away again
    from annotator.engines.classic import ClassicImageSession
    from annotator.everything import run as ev
    from annotator.media.image import load_image

    with Project.open(proj) as p:
        item = p.items()[0]
        res = ev.segment_image(ClassicImageSession(), load_image(item.abspath), "grid", points_per_side=2)
        tids = ev.add_to_project(p, item, 0, res.records, model="classic")
        assert tids and len(p.tracks()) == n_cli + len(tids)
        assert "Segment everything" in p.undo_label
        p.undo()
        assert len(p.tracks()) == n_cli and len(p.masks()) == n_cli


def test_clean_small_regions_prefers_untouched_masks():
    from annotator.everything.generator import clean_small_regions, record
    from annotator.everything.masks import Candidate, decode, encode_uncropped, mask_box

    h, w = 40, 60
    a = np.zeros((h, w), bool)
    a[5:30, 5:40] = True
    holed = a.copy()
    holed[10:12, 10:12] = False  # a 4-pixel hole: filled, so this one counts as "changed"

    def cand(m, iou):
        return Candidate(rle=encode_uncropped(m, [0, 0, w, h], (h, w)), box=mask_box(m), iou=np.float32(iou),
                         stability=np.float32(1), point=np.array([20.0, 20.0]))

    out = clean_small_regions([cand(holed, 0.9), cand(a, 0.8)], min_area=10, nms_thresh=0.7)
    assert len(out) == 1 and out[0].iou == np.float32(0.8)  # the clean duplicate wins despite its score
    out = clean_small_regions([cand(holed, 0.9)], min_area=10, nms_thresh=0.7)
    assert decode(out[0].rle)[10:12, 10:12].all() and record(out[0], [0, 0, w, h])["area"] == int(a.sum())
