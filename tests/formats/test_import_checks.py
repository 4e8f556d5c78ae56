"""formats/checks: what a file declares is refused in one line before anything is allocated,
rasterised or written (issue 11 items 7, 8 and the nesting / RLE-count lines)."""
import json
import subprocess
import sys

import numpy as np
import pytest
from fmt_synth import sample_project, snapshot

from annotator.core.store import Project
from annotator.errors import FormatError
from annotator.formats import checks
from annotator.formats.registry import get_format


def test_json_reader_bounds_nesting_size_and_long_integers(tmp_path, monkeypatch):
    f = tmp_path / "deep.json"
    for text in ("[" * 100_000 + "]" * 100_000, '{"a":' * 200_000 + "1" + "}" * 200_000):
        f.write_text(text)
        with pytest.raises(FormatError, match="deep.json: JSON nested too deeply"):
            checks.load_json(f)
    f.write_text('{"x": ' + "7" * 5000 + "}")
    with pytest.raises(FormatError, match="deep.json: invalid JSON .*4300 digits"):
        checks.load_json(f)
    f.write_text('{"x": [1, 2, 3]}')
    assert checks.load_json(f) == {"x": [1, 2, 3]}
    monkeypatch.setenv("ANNOTATOR_MAX_JSON_BYTES", "10")
    with pytest.raises(FormatError, match="16 bytes is over the limit of 10"):
        checks.load_json(f)


@pytest.mark.parametrize("fmt", ["coco", "ytvis", "sav", "labelme"])
def test_nested_json_is_one_line_from_the_cli_in_every_json_importer(tmp_path, fmt):
    path = tmp_path / "p.annotator"
    Project.create(path).close()
    f = tmp_path / ("x_manual.json" if fmt == "sav" else "x.json")
    f.write_text("[" * 50_000 + "]" * 50_000)
    before = path.read_bytes()
    r = subprocess.run([sys.executable, "-m", "annotator", "import", str(path), str(f), "-f", fmt],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"annotator: error: {f}: JSON nested too deeply to read"]
    assert path.read_bytes() == before


@pytest.mark.parametrize("bad, why", [
    (float("nan"), "non-finite"), (float("inf"), "non-finite"), (-float("inf"), "non-finite"),
    (1e308, "far outside"), (-1e9, "far outside"), (2 ** 64, "far outside"), (10 ** 400, "too large"),
])
def test_coordinates_must_be_finite_and_near_the_frame(bad, why):
    with pytest.raises(FormatError, match=why):
        checks.polygons([[1, 1, 5, 1, bad, 4]], 16, 12, "f.json: seg")


def test_polygons_near_the_frame_and_many_small_ones_are_kept():
    # real datasets reach a little past the border; pycocotools clips them
    assert checks.polygons([[-3, -2, 20, -1, 18, 14], [1, 1, 2, 2]], 16, 12, "w")[0][:2] == [-3.0, -2.0]
    many = [[1, 1, 3, 1, 3, 3]] * 50_000
    assert len(checks.polygons(many, 16, 12, "w")) == 50_000
    assert checks.polygons([[1, 2, 3, 4]], 16, 12, "w") == []  # under 3 points: no area, not a box


def test_vertex_and_outline_limits(monkeypatch):
    monkeypatch.setenv("ANNOTATOR_MAX_VERTICES", "1000")
    with pytest.raises(FormatError, match="1,002 polygon vertices .* over the limit of 1,000"):
        checks.polygons([[0, 0] * 1000, [1, 1, 2, 2]], 16, 12, "w")
    monkeypatch.setenv("ANNOTATOR_MAX_OUTLINE", "1000")
    zigzag = [v for k in range(200) for v in ((0, 0) if k % 2 else (16, 12))]  # 200 edges of 16 px
    with pytest.raises(FormatError, match="outline of 3,200 pixels is over the limit of 1,000"):
        checks.polygons([zigzag], 16, 12, "w")


def test_declared_sizes_frames_and_ids():
    with pytest.raises(FormatError, match="100000x100000 = 10,000,000,000 pixels is over the limit"):
        checks.media_size(100_000, 100_000, "w")
    with pytest.raises(FormatError, match="width 1e\\+308 is not a real image size"):
        checks.media_size(int(1e308), 1, "w")
    with pytest.raises(FormatError, match="1,000,000,000,000 frames is over the limit"):
        checks.frame_count(10 ** 12, "w")
    with pytest.raises(FormatError, match="frame 999,999,999,999 is beyond the frame limit"):
        checks.frame_index(999_999_999_999, "w")
    with pytest.raises(FormatError, match="beyond the 5 frames"):
        checks.frame_index(5, "w", 5)
    with pytest.raises(FormatError, match="from 1 to 2147483647, got 1e\\+30"):
        checks.object_id(10 ** 30, "w")
    with pytest.raises(FormatError, match="fps should be a finite"):
        checks.fps(float("nan"), "w")


def test_uncompressed_rle_runs_over_2_32_or_off_the_size():
    with pytest.raises(FormatError, match="run of 4,294,967,297 pixels is over 2\\^32"):
        checks.uncompressed_counts([2 ** 32 + 1], 1, 2 ** 32 + 1, "w")
    with pytest.raises(FormatError, match="cover 13 pixels, expected 12"):
        checks.uncompressed_counts([6, 7], 3, 4, "w")
    assert checks.uncompressed_counts([5, 7.0], 3, 4, "w") == [5, 7]


def _coco(tmp_path, seg, w=16, h=12, **im):
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": w, "height": h, **im}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": seg}],
           "categories": [{"id": 1, "name": "c"}]}
    f = tmp_path / "c.json"
    f.write_text(json.dumps(doc, allow_nan=True))
    return f


@pytest.mark.parametrize("seg, im, why", [
    ([[1, 1, 5, 1, float("nan"), 4]], {}, "non-finite"),
    ([[1, 1, 5, 1, 1e308, 4]], {}, "far outside"),
    ({"size": [12, 16], "counts": [2 ** 32 + 1]}, {}, "over 2\\^32"),
    ([[1, 1, 5, 1, 5, 4]], {"width": 100_000, "height": 100_000}, "pixels is over the limit"),
    ([[1, 1, 5, 1, 5, 4]], {"media": "v.mp4", "num_frames": 10 ** 12, "frame_index": 10 ** 12 - 1},
     "frames is over the limit"),
])
def test_coco_import_refuses_before_rasterising_and_leaves_the_project(tmp_path, seg, im, why):
    p = sample_project(tmp_path)
    before = snapshot(p)
    f = _coco(tmp_path, seg, **{"width": im.pop("width", 16), "height": im.pop("height", 12)}, **im)
    with pytest.raises(FormatError, match=f"c.json: .*{why}"):
        get_format("coco").load(p, f, require_media=False)
    assert snapshot(p) == before


@pytest.mark.parametrize("points, why", [
    ([[1, 1], [1e308, 5], [4, 9]], "far outside"),
    ([[8, 6], [1e9, 6]], "far outside"),                   # a circle of radius 1e9
])
def test_labelme_points_and_circles(tmp_path, points, why):
    p = sample_project(tmp_path)
    before = snapshot(p)
    stype = "circle" if len(points) == 2 else "polygon"
    doc = {"imagePath": "a.png", "imageWidth": 16, "imageHeight": 12,
           "shapes": [{"label": "x", "shape_type": stype, "points": points}]}
    f = tmp_path / "a.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=f"a.json: shapes\\[0\\]: .*{why}"):
        get_format("labelme").load(p, f, require_media=False)
    assert snapshot(p) == before


def test_labelme_many_shapes_do_not_hold_a_frame_each(tmp_path):
    # 600 shapes without a group on a 1000x1000 image: 600 objects; as full masks held until
    # the end that was 600 MB, as RLEs it is a few
    import tracemalloc

    p = Project.create(tmp_path / "p.annotator")
    shapes = [{"label": "x", "shape_type": "rectangle", "points": [[k, 5], [k + 3, 9]]} for k in range(600)]
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"imagePath": "a.png", "imageWidth": 1000, "imageHeight": 1000, "shapes": shapes}))
    tracemalloc.start()
    try:
        get_format("labelme").load(p, f, require_media=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2 ** 20, f"{peak / 2 ** 20:.0f} MB"
    tracks = p.tracks()
    assert len(tracks) == 600
    one = type(get_format("labelme"))._shape_mask("rectangle", [[7, 5], [10, 9]], {}, 1000, 1000, "w",
                                                     {"thin": "draw", "line_width": 10, "point_size": 5})
    assert np.array_equal(p.masks(track_id=tracks[7].id)[0].mask(), one)
    p.close()


def test_davis_frame_names_and_object_counts(tmp_path, monkeypatch):
    from PIL import Image

    seq = tmp_path / "seq"
    seq.mkdir()
    Image.fromarray(np.ones((4, 5), np.uint8)).save(seq / "999999999999.png")
    p = Project.create(tmp_path / "p.annotator")
    with pytest.raises(FormatError, match="999999999999.png: frame 999,999,999,999 is beyond the frame limit"):
        get_format("davis").load(p, seq)
    (seq / "999999999999.png").unlink()
    Image.fromarray(np.arange(20, dtype=np.uint8).reshape(4, 5)).save(seq / "00000.png")
    monkeypatch.setenv("ANNOTATOR_MAX_OBJECTS", "10")
    with pytest.raises(FormatError, match="00000.png: 19 distinct object values is over the limit of 10"):
        get_format("davis").load(p, seq)
    assert p.items() == []
    p.close()


def test_values_kept_verbatim_nest_at_most_32_deep(tmp_path):
    # 900 levels parse (Python's limit is ~1000) but could not be read back from a deeper stack
    deep = json.loads("[" * 900 + "]" * 900)
    with pytest.raises(FormatError, match="w: 'attributes' is nested more than 32 deep"):
        checks.storable({"x": deep}, "w", "'attributes'")
    ok = json.loads("[" * 32 + "]" * 32)
    assert checks.storable(ok, "w", "x") is ok
    p = sample_project(tmp_path)
    before = snapshot(p)
    f = _coco(tmp_path, [[1, 1, 5, 1, 5, 4]])
    doc = json.loads(f.read_text())
    doc["annotations"][0]["attributes"] = {"x": deep}
    f.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="c.json: annotations\\[0\\]: 'attributes' is nested more than 32"):
        get_format("coco").load(p, f, require_media=False)
    assert snapshot(p) == before
