import json

import numpy as np
import pytest
from fmt_synth import assert_same_masks, blob, sample_project, snapshot
from pycocotools import mask as mask_util

from annotator.core import rle
from annotator.core.store import Project
from annotator.errors import FormatError
from annotator.formats.registry import get_format

SAV = get_format("sav")


@pytest.mark.parametrize("name", ["sav_000001_manual.json", "sav_000001_auto.json"])
def test_real_file_roundtrip_is_faithful(tmp_path, shared_data, name):
    src = shared_data / "sav" / name
    p = Project.create(tmp_path / "p.annotator")
    res = SAV.load(p, src)
    orig = json.loads(src.read_text())
    [item] = p.items()
    # the video is not shipped: the item points at where it would be and is marked missing
    assert not item.exists and item.path.endswith("sav_000001.mp4")
    assert (item.width, item.height, item.num_frames, item.fps) == (480, 848, 483, 24.0)
    assert res.tracks == len(orig["masklet_id"])

    out = tmp_path / name
    SAV.export(p, out)
    again = json.loads(out.read_text())
    assert list(again) == list(orig)  # same fields, same order
    for key in orig:
        if key != "masklet":
            assert again[key] == orig[key], key
            assert json.dumps(again[key]) == json.dumps(orig[key]), f"{key}: types changed"
    # decoded masks identical, frame by frame and object by object
    assert len(again["masklet"]) == len(orig["masklet"]) == 121
    for fa, fb in zip(orig["masklet"], again["masklet"]):
        for ra, rb in zip(fa, fb):
            assert np.array_equal(mask_util.decode(ra), mask_util.decode(rb))
    assert out.read_text() == json.dumps(orig)  # in fact byte-identical


def test_masks_land_on_stride_4_frames_and_relink(tmp_path, shared_data):
    src = shared_data / "sav" / "sav_000001_manual.json"
    orig = json.loads(src.read_text())
    p = Project.create(tmp_path / "p.annotator")
    SAV.load(p, src)
    [item] = p.items()
    t3 = [t for t in p.tracks(item.id) if t.attributes["sav"]["masklet_id"] == 3][0]
    frames = sorted(p.mask_frames(t3.id))
    assert frames[0] == 4 * 113  # masklet_first_appeared_frame is in annotated-frame units
    assert all(f % 4 == 0 for f in frames)
    assert np.array_equal(p.mask(t3.id, 452).mask(), mask_util.decode(orig["masklet"][113][3]).astype(bool))
    assert t3.attributes["sav"]["masklet_edited_frame_count"] == 4
    # the missing video can be relinked later; annotations stay
    video = tmp_path / "sav_000001.mp4"
    video.write_bytes(b"placeholder")
    p.relink_item(item.id, video)
    assert p.item(item.id).exists and len(p.masks(item.id)) == 480


def _stats(ms, h, w):
    """Independent computation of the SA-V statistics from a list of per-frame masks."""
    areas = np.array([m.sum() for m in ms], float)
    vis = areas > 0
    mean = areas[vis].mean()
    first = int(np.argmax(vis))
    changes = int(np.count_nonzero(vis[first + 1:] != vis[first:-1]))
    return mean, mean / (h * w), first, changes


def test_derived_fields_follow_edits(tmp_path, shared_data):
    src = shared_data / "sav" / "sav_000001_manual.json"
    p = Project.create(tmp_path / "p.annotator")
    SAV.load(p, src)
    [item] = p.items()
    t0 = [t for t in p.tracks(item.id) if t.attributes["sav"]["masklet_id"] == 0][0]
    p.delete_masks(t0.id, 0, 40)   # object 0 now appears at annotated frame 11
    p.set_mask(t0.id, 200, blob(848, 480, 0, 0, 100, 100))
    out = tmp_path / "edited.json"
    SAV.export(p, out)
    doc = json.loads(out.read_text())
    ms = [mask_util.decode(f[0]).astype(bool) for f in doc["masklet"]]
    mean, rel, first, changes = _stats(ms, 848, 480)
    assert doc["masklet_first_appeared_frame"][0] == first == 11
    assert doc["masklet_size_abs"][0] == pytest.approx(mean)
    assert doc["masklet_size_rel"][0] == pytest.approx(rel)
    assert doc["masklet_visibility_changes"][0] == changes
    assert np.array_equal(ms[50], blob(848, 480, 0, 0, 100, 100))
    orig = json.loads(src.read_text())
    assert doc["masklet"][5][1:] == orig["masklet"][5][1:]  # other objects untouched


def test_project_made_here_exports_and_reimports(tmp_path):
    src = sample_project(tmp_path)
    out = tmp_path / "sav_out"
    SAV.export(src, out)  # a folder: one JSON per video
    [f] = sorted(out.glob("*.json"))
    doc = json.loads(f.read_text())
    assert f.name == "clip_manual.json" and doc["video_id"] == "clip"
    assert len(doc["masklet"]) == 12 and doc["masklet_stride"] == 1  # every frame
    assert doc["masklet_id"] == [0, 1] and doc["masklet_num"] == 2
    assert doc["masklet_frame_count"] == [12, 12]
    assert doc["masklet_first_appeared_frame"] == [0, 4]
    assert doc["masklet_visibility_changes"] == [11, 3]
    assert doc["masklet_size_bucket"] == ["small", "small"]
    assert doc["masklet_edited_frame_count"] == [0, 2]  # only manual masks count as edited
    assert len(doc["masklet_stability_score"]) == 12  # scores were set: frame-major like auto files
    assert doc["masklet_stability_score"][2][0] == pytest.approx(0.52)
    assert doc["video_duration"] == pytest.approx(0.5) and doc["video_resolution"] == 32 * 40
    dst = Project.create(tmp_path / "dst.annotator")
    SAV.load(dst, f)
    assert_same_masks(src, dst, names={"clip.mp4"})
    # SA-V cadence on request: every 4th frame
    SAV.export(src, tmp_path / "s4.json", stride=4, item_ids=[2])
    d4 = json.loads((tmp_path / "s4.json").read_text())
    assert len(d4["masklet"]) == 3 and "masklet_stride" not in d4
    assert rle.decode(d4["masklet"][1][0]).sum() == 10 * 18  # frame 4 of object 1


def test_image_only_selection_is_refused(tmp_path):
    src = sample_project(tmp_path)
    with pytest.raises(FormatError, match="no annotated video"):
        SAV.export(src, tmp_path / "x.json", item_ids=[1])


def _small_doc():
    z = rle.encode(np.zeros((6, 5), bool))
    m = rle.encode(blob(6, 5, 1, 1, 3, 4))
    return {"video_id": "v", "video_frame_count": 8, "video_height": 6, "video_width": 5,
            "masklet": [[m, z], [z, m]], "masklet_id": [0, 1]}


MALFORMED = {
    "truncated": (lambda d: None, "invalid JSON"),
    "masklet_id_type": (lambda d: d.update(masklet_id="01"), "'masklet_id' should be list"),
    "object_count": (lambda d: d["masklet"][1].pop(), r"masklet\[1\] should be a list of 2 RLEs"),
    "rle_size": (lambda d: d["masklet"][0][0].update(size=[5, 6]), "disagrees with the media size 5x6"),
    "height_type": (lambda d: d.update(video_height="6"), "'video_height' should be a number"),
    "too_many_frames": (lambda d: d.update(video_frame_count=2), "do not fit in 2 video frames"),
    "per_masklet_len": (lambda d: d.update(masklet_type=["manual"]), "'masklet_type' has 1 entries"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed(tmp_path, case):
    mutate, pattern = MALFORMED[case]
    d = _small_doc()
    mutate(d)
    f = tmp_path / "v_manual.json"
    text = json.dumps(d)
    f.write_text(text[:-9] if case == "truncated" else text)
    p = sample_project(tmp_path)
    before = snapshot(p)
    with pytest.raises(FormatError, match=pattern) as e:
        SAV.load(p, f)
    assert "v_manual.json" in str(e.value) and "\n" not in str(e.value)
    assert snapshot(p) == before


def test_small_doc_imports_onto_existing_item(tmp_path):
    f = tmp_path / "v_manual.json"
    f.write_text(json.dumps(_small_doc()))
    p = Project.create(tmp_path / "p.annotator")
    it = p.add_item(tmp_path / "elsewhere" / "v.mp4", "video", 5, 6, num_frames=8, fps=4)
    SAV.load(p, f)
    assert [i.id for i in p.items()] == [it.id]  # matched by video_id and size, no duplicate
    assert sorted(p.mask_frames(p.tracks(it.id)[1].id)) == [4]
    with pytest.raises(FormatError, match="option media.*does not exist"):
        SAV.load(p, f, media=str(tmp_path / "none.mp4"))


def test_png_layout_real_file(tmp_path, shared_data):
    from PIL import Image

    p = Project.create(tmp_path / "p.annotator")
    SAV.load(p, shared_data / "sav" / "sav_000001_manual.json")
    out = tmp_path / "Annotations_6fps"
    SAV.export(p, out, layout="png")
    objs = sorted(d.name for d in (out / "sav_000001").iterdir())
    assert objs == ["000", "001", "002", "003", "004"]
    pngs = sorted((out / "sav_000001" / "003").glob("*.png"))
    assert len(pngs) == 121 and pngs[1].name == "00004.png"  # every annotated frame, empty ones too
    orig = json.loads((shared_data / "sav" / "sav_000001_manual.json").read_text())
    got = np.array(Image.open(out / "sav_000001" / "003" / "00452.png"))
    assert set(np.unique(got)) <= {0, 255}
    assert np.array_equal(got > 0, mask_util.decode(orig["masklet"][113][3]).astype(bool))


def test_png_layout_roundtrip(tmp_path):
    src = sample_project(tmp_path)
    out = tmp_path / "Annotations_6fps"
    SAV.export(src, out, layout="png", stride=2)
    assert sorted(p.name for p in (out / "clip" / "001").iterdir()) == [f"{f:05d}.png" for f in range(0, 12, 2)]
    q = Project.create(tmp_path / "q.annotator")
    SAV.load(q, out)
    [item] = q.items()
    assert item.meta["sav"]["stride"] == 2 and item.num_frames == 11
    assert item.path.endswith("JPEGImages_24fps/clip")
    a = {(t.obj_id, m.frame): m.rle["counts"] for t in src.tracks(2) for m in src.masks(track_id=t.id)}
    b = {(t.obj_id, m.frame): m.rle["counts"] for t in q.tracks() for m in q.masks(track_id=t.id)}
    assert a == b


def test_png_layout_frame_count_and_no_duplicate_item(tmp_path, shared_data):
    """The real file's PNGs end at frame 480 of 483: the count comes from a project item of
    that video (no duplicate item), or num_frames; a guess is said in the summary."""
    p = Project.create(tmp_path / "p.annotator")
    SAV.load(p, shared_data / "sav" / "sav_000001_manual.json")
    out = tmp_path / "Annotations_6fps"
    s = SAV.export(p, out, layout="png")
    assert any("5 masklets on 121 annotated frames" in line for line in s.lines())
    import shutil

    for obj in ("001", "002", "003"):  # lean: two objects are enough from here on
        shutil.rmtree(out / "sav_000001" / obj)
    before = {t.id: sorted(p.mask_frames(t.id)) for t in p.tracks()}
    res = SAV.load(p, out)  # the same video again, from its PNG folder: nothing new
    [item] = p.items()
    assert item.num_frames == 483 and {t.id: sorted(p.mask_frames(t.id)) for t in p.tracks()} == before
    assert res.summary.count("objects already in the project with the same masks not added again") == 2
    q = Project.create(tmp_path / "q.annotator")
    res = SAV.load(q, out)
    assert q.items()[0].num_frames == 481
    assert any("frame count is a guess" in line and "sav_000001: 481" in line for line in res.summary.lines())
    r = Project.create(tmp_path / "r.annotator")
    SAV.load(r, out, num_frames=483)
    assert r.items()[0].num_frames == 483
    assert before
