import json
import os

import numpy as np
import pytest
from fmt_synth import assert_same_masks, category_of, fill_holes, sample_project, snapshot
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.core.store import Project
from annotator.errors import FormatError
from annotator.formats import base
from annotator.formats.registry import get_format

COCO_FMT = get_format("coco")


def _eval(gt_file, dets):
    gt = COCO(str(gt_file))
    ev = COCOeval(gt, gt.loadRes(dets), "segm")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats


def test_export_loads_in_pycocotools_and_scores_itself_perfectly(tmp_path):
    src = sample_project(tmp_path)
    out = tmp_path / "coco.json"
    COCO_FMT.export(src, out)
    doc = json.loads(out.read_text())
    assert {"info", "licenses", "images", "annotations", "categories"} <= set(doc)
    # one image entry for the image + one per annotated video frame (0, 2, 4, 6, 8, 10)
    assert len(doc["images"]) == 1 + 6
    assert [im["frame_index"] for im in doc["images"][1:]] == [0, 2, 4, 6, 8, 10]
    assert min(a["id"] for a in doc["annotations"]) == 1
    assert len({a["id"] for a in doc["annotations"]}) == len(doc["annotations"]) == 2 + 6 + 2
    for a in doc["annotations"]:
        assert a["area"] == mask_util.area(a["segmentation"])
        assert a["bbox"] == mask_util.toBbox(a["segmentation"]).tolist()
        assert a["iscrowd"] == 0 and isinstance(a["segmentation"]["counts"], str)
    names = {c["name"] for c in doc["categories"]}
    assert names == {"cat", "dog", "object"}  # "object" for the uncategorised track

    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"],
             "score": 1.0} for a in doc["annotations"]]
    assert _eval(out, dets)[0] == pytest.approx(1.0)
    # the evaluation is real: shifting every detection by 3 pixels costs AP
    shifted = []
    for a in doc["annotations"]:  # (loadRes modified `dets` in place)
        m = np.roll(mask_util.decode(a["segmentation"]), 3, axis=1)
        r = mask_util.encode(np.asfortranarray(m))
        r["counts"] = r["counts"].decode()
        shifted.append({"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": r,
                        "score": 1.0})
    assert _eval(out, shifted)[0] < 0.9


def test_roundtrip_rle_is_exact(tmp_path):
    src = sample_project(tmp_path)
    out = tmp_path / "coco.json"
    COCO_FMT.export(src, out)
    dst = Project.create(tmp_path / "dst.annotator")
    res = COCO_FMT.load(dst, out, require_media=False)
    assert res.masks == 10 and res.tracks == 4
    assert_same_masks(src, dst)
    assert category_of(src) == category_of(dst)
    [vid] = [i for i in dst.items() if i.kind == "video"]
    assert (vid.num_frames, vid.fps, vid.exists) == (12, 24.0, False)
    assert vid.path == src.items()[1].path  # relative paths resolve to the same place
    # scores survive too
    [a] = [t for t in dst.tracks(vid.id) if dst.mask(t.id, 2) is not None]
    assert dst.mask(a.id, 2).score == pytest.approx(0.52)
    # the whole import is one undo step
    assert dst.undo_label.startswith("Import COCO")
    dst.undo()
    assert dst.counts()["masks"] == 0 and dst.counts()["items"] == 0


def test_polygon_mode(tmp_path):
    src = sample_project(tmp_path)
    out = tmp_path / "poly.json"
    COCO_FMT.export(src, out, segmentation="polygon")
    doc = json.loads(out.read_text())
    assert all(isinstance(a["segmentation"], list) and all(len(p) >= 6 for p in a["segmentation"])
               for a in doc["annotations"])
    gt = COCO(str(out))  # pycocotools rasterises the polygons back to our pixels, holes filled
    dst = Project.create(tmp_path / "dst.annotator")
    COCO_FMT.load(dst, out, require_media=False)
    assert_same_masks(src, dst, transform=fill_holes)
    ann = gt.loadAnns(gt.getAnnIds(imgIds=[1]))[0]
    assert gt.annToMask(ann).sum() == ann["area"] == 25 * 25 + 10 * 20  # hole filled, both parts kept


def test_import_plain_coco_with_existing_image(tmp_path, shared_data):
    img = shared_data / "images_truck.jpg"
    from annotator.media import image_size

    w, h = image_size(img)
    doc = {"images": [{"id": 0, "file_name": img.name, "width": w, "height": h}],
           "annotations": [
               {"id": 0, "image_id": 0, "category_id": 3, "iscrowd": 0,
                "segmentation": [[10, 10, 110, 10, 110, 60, 10, 60]], "area": 5000, "bbox": [10, 10, 100, 50]},
               {"id": 1, "image_id": 0, "category_id": 3, "iscrowd": 1,
                "segmentation": {"size": [h, w], "counts": [w * h - 10, 10]}, "area": 10, "bbox": [0, 0, 1, 1]}],
           "categories": [{"id": 3, "name": "truck", "supercategory": "vehicle"},
                          {"id": 4, "name": "unused"}]}
    f = tmp_path / "plain.json"
    f.write_text(json.dumps(doc))
    p = Project.create(tmp_path / "p.annotator")
    COCO_FMT.load(p, f, image_root=str(shared_data))
    [item] = p.items()
    assert item.exists and (item.width, item.height) == (w, h)
    t1, t2 = p.tracks(item.id)
    assert p.mask(t1.id, 0).area == 100 * 50
    assert t2.attributes == {"iscrowd": 1} and p.mask(t2.id, 0).area == 10
    assert {c.name for c in p.categories()} == {"truck", "unused"}
    assert p.category_by_name("truck").supercategory == "vehicle"
    # the same annotations under a wrong size are refused against the real file
    doc["images"][0]["width"] = w + 1
    doc["annotations"] = []
    f.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=r"plain\.json.*is 1800x1200"):
        COCO_FMT.load(Project.create(tmp_path / "q.annotator"), f, image_root=str(shared_data))


def _valid_doc():
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 3}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                             "segmentation": {"size": [3, 4], "counts": [5, 2, 5]}, "iscrowd": 0}],
            "categories": [{"id": 1, "name": "x"}]}


def _mutate(path_fn):
    def f(d):
        path_fn(d)
        return d
    return f


MALFORMED = {
    "truncated": (None, "invalid JSON"),
    "not_a_dict": (lambda d: [1, 2], "top level should be dict"),
    "images_not_list": (_mutate(lambda d: d.update(images={"id": 1})), "'images' should be list"),
    "category_id_str": (_mutate(lambda d: d["categories"][0].update(id="1")), "'id' should be an integer"),
    "unknown_category": (_mutate(lambda d: d["annotations"][0].update(category_id=7)), "unknown category_id 7"),
    "unknown_image": (_mutate(lambda d: d["annotations"][0].update(image_id=9)), "image_id 9 is not in"),
    "rle_size": (_mutate(lambda d: d["annotations"][0]["segmentation"].update(size=[4, 3])),
                 "RLE size 3x4 .* disagrees with the media size 4x3"),
    "rle_counts_sum": (_mutate(lambda d: d["annotations"][0]["segmentation"].update(counts=[5, 2])),
                       "cover 7 pixels, expected 12"),
    "rle_corrupt_string": (_mutate(lambda d: d["annotations"][0]["segmentation"].update(counts="1\x7f")),
                           "outside the COCO codec"),
    "rle_wrong_total": (_mutate(lambda d: d["annotations"][0]["segmentation"].update(counts="52")),
                        "expected 3x4 = 12"),
    "segmentation_type": (_mutate(lambda d: d["annotations"][0].update(segmentation=5)), "should be polygons"),
    "polygon_odd": (_mutate(lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4, 5, 6, 7]])),
                    "even number"),
    "width_negative": (_mutate(lambda d: d["images"][0].update(width=-4)), "'width' should be a positive"),
    "missing_categories": (_mutate(lambda d: d.pop("categories")), "missing 'categories'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_refused_and_project_untouched(tmp_path, case):
    mutate, pattern = MALFORMED[case]
    f = tmp_path / "bad.json"
    if mutate is None:
        f.write_text(json.dumps(_valid_doc())[:-7])
    else:
        f.write_text(json.dumps(mutate(_valid_doc())))
    p = sample_project(tmp_path)
    before = snapshot(p)
    with pytest.raises(FormatError, match=pattern) as e:
        COCO_FMT.load(p, f, require_media=False)
    msg = str(e.value)
    assert "bad.json" in msg and "\n" not in msg
    assert snapshot(p) == before


def test_valid_doc_imports(tmp_path):
    # the fixture above is otherwise valid: the errors come from the mutations, not the base
    f = tmp_path / "ok.json"
    f.write_text(json.dumps(_valid_doc()))
    p = Project.create(tmp_path / "p.annotator")
    COCO_FMT.load(p, f, require_media=False)
    assert p.masks()[0].mask().sum() == 2
    assert not p.items()[0].exists


def test_missing_paths(tmp_path):
    p = sample_project(tmp_path)
    before = snapshot(p)
    with pytest.raises(FormatError, match="nope.json: file not found"):
        COCO_FMT.load(p, tmp_path / "nope.json")
    f = tmp_path / "ok.json"
    f.write_text(json.dumps(_valid_doc()))
    with pytest.raises(FormatError, match="image_root.*does not exist"):
        COCO_FMT.load(p, f, image_root=str(tmp_path / "no_dir"))
    with pytest.raises(FormatError, match=r"ok.json: image 1 \(a.jpg\): media file .*a.jpg does not exist"):
        COCO_FMT.load(p, f)  # by default images must exist
    with pytest.raises(FormatError, match="unknown option 'colour'"):
        COCO_FMT.load(p, f, colour=1)
    assert snapshot(p) == before


def test_failure_while_writing_is_undone(tmp_path, monkeypatch):
    src = sample_project(tmp_path)
    out = tmp_path / "coco.json"
    COCO_FMT.export(src, out)
    dst = Project.create(tmp_path / "dst.annotator")
    dst.add_category("keep")
    before = snapshot(dst)
    calls = {"n": 0}
    real = dst.set_masks

    def failing(entries, label="x"):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(entries, label=label)

    monkeypatch.setattr(dst, "set_masks", failing)
    with pytest.raises(FormatError, match="import failed and was undone.*disk full"):
        COCO_FMT.load(dst, out, require_media=False)
    assert calls["n"] == 2
    assert snapshot(dst)[:5] == before[:5]


def test_export_is_atomic(tmp_path, monkeypatch):
    src = sample_project(tmp_path)
    out = tmp_path / "coco.json"
    out.write_text("previous export")

    def boom(fd):
        raise OSError("no space left")

    monkeypatch.setattr(base.os, "fsync", boom)
    with pytest.raises(OSError):
        COCO_FMT.export(src, out)
    assert out.read_text() == "previous export"
    assert os.listdir(tmp_path).count("coco.json") == 1
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    monkeypatch.undo()
    COCO_FMT.export(src, out, item_ids=[2])
    doc = json.loads(out.read_text())
    assert all("frame_index" in im for im in doc["images"])
    with pytest.raises(FormatError, match="no media item 99"):
        COCO_FMT.export(src, out, item_ids=[99])
