"""`annotator propagate`: headless propagation to SA-V JSON, streamed through a spool file."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from annotator.bench.video import SyntheticVideo
from annotator.cli import main
from annotator.core.rle import decode


def _frames(tmp_path, n=6, w=160, h=120):
    src = SyntheticVideo(n, width=w, height=h, discs=2)
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(n):
        Image.fromarray(src.frame(i)).save(folder / f"{i:05d}.png")
    return folder, src


def _prompts(tmp_path, src, frame=0):
    cx, cy = src.centre(0, frame)
    bx, by = src.centre(1, frame)
    r = 0.09 * src.height
    data = [
        {"frame": frame, "obj_id": 1, "points": [[cx, cy]], "labels": [1]},
        {"frame": frame, "obj_id": 2, "box": [bx - r - 2, by - r - 2, bx + r + 2, by + r + 2]},
    ]
    p = tmp_path / "prompts.json"
    p.write_text(json.dumps(data))
    return p


def _check_sav(out, n, h, w, src, stride=1):
    doc = json.loads(out.read_text())
    assert doc["video_frame_count"] == n and doc["video_height"] == h and doc["video_width"] == w
    assert doc["masklet_id"] == [0, 1] and doc["masklet_num"] == 2
    assert len(doc["masklet"]) == len(range(0, n, stride))
    assert doc["masklet_frame_count"] == [len(doc["masklet"])] * 2
    areas = []
    for k, row in enumerate(doc["masklet"]):
        assert len(row) == 2
        masks = [decode(r) for r in row]
        assert all(m.shape == (h, w) for m in masks)
        areas.append([int(m.sum()) for m in masks])
    a = np.array(areas, float)
    vis = a > 0
    for j in range(2):
        if vis[:, j].any():
            assert doc["masklet_size_abs"][j] == pytest.approx(a[vis[:, j], j].mean())
    assert not list(out.parent.glob("*.spool.jsonl")) and not list(out.parent.glob("*.part"))
    return doc, a


def test_propagate_classic_writes_sav(tmp_path, capsys):
    folder, src = _frames(tmp_path)
    prompts = _prompts(tmp_path, src, frame=2)
    out = tmp_path / "out.sav.json"
    rc = main(["propagate", str(folder), "--model", "classic", "--prompts", str(prompts), "-o", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    doc, areas = _check_sav(out, 6, 120, 160, src)
    # the clicked disc is found on the prompted frame and tracked both ways
    cx, cy = src.centre(0, 2)
    m = decode(doc["masklet"][2][0])
    assert m[int(cy), int(cx)]
    assert (areas[:, 0] > 0).all()
    assert doc["masklet_edited_frame_count"] == [1, 1]
    assert "masklet_stride" in doc and doc["masklet_stride"] == 1


def test_propagate_stride_and_errors(tmp_path, capsys):
    folder, src = _frames(tmp_path, n=5)
    prompts = _prompts(tmp_path, src)
    out = tmp_path / "o.json"
    assert main(["propagate", str(folder), "--model", "classic", "--prompts", str(prompts), "-o", str(out),
                 "-q", "--stride", "4"]) == 0
    doc, _ = _check_sav(out, 5, 120, 160, src, stride=4)
    assert "masklet_stride" not in doc
    bad = tmp_path / "bad.json"
    for content, needle in [("[{\"frame\": 0}]", "obj_id"), ("{", "JSON"),
                            ("[{\"frame\": 0, \"obj_id\": 1}]", "points"),
                            ("[{\"frame\": 99, \"obj_id\": 1, \"box\": [1, 1, 5, 5]}]", "frame 99"),
                            ("[{\"frame\": 0, \"obj_id\": 1, \"points\": [[1, 2]], \"labels\": [1, 0]}]", "labels")]:
        bad.write_text(content)
        rc = main(["propagate", str(folder), "--model", "classic", "--prompts", str(bad), "-o", str(tmp_path / "x.json")])
        err = capsys.readouterr().err
        assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_propagate_learned_model_random_weights(tmp_path, capsys):
    pytest.importorskip("torch")
    folder, src = _frames(tmp_path, n=3)
    prompts = _prompts(tmp_path, src)
    out = tmp_path / "sam2.sav.json"
    rc = main(["propagate", str(folder), "--model", "sam2.1_hiera_tiny", "--weights", "random",
               "--prompts", str(prompts), "-o", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    _check_sav(out, 3, 120, 160, src)


def _davis_clip(shared_data, tmp_path, seq="dog", n=4):
    import shutil

    jpg = shared_data / "davis2016" / "JPEGImages" / "480p" / seq
    ann = shared_data / "davis2016" / "Annotations" / "480p" / seq
    folder = tmp_path / seq
    folder.mkdir()
    for i in range(n):
        shutil.copy(jpg / f"{i:05d}.jpg", folder / f"{i:05d}.jpg")
    gt = [np.asarray(Image.open(ann / f"{i:05d}.png").convert("L")) > 0 for i in range(n)]
    return folder, gt


def test_propagate_from_a_mask_prompt(shared_data, tmp_path, capsys):
    folder, gt = _davis_clip(shared_data, tmp_path)
    Image.fromarray(gt[0].astype(np.uint8) * 255).save(tmp_path / "dog0.png")
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "obj_id": 1, "mask": "dog0.png"}]))  # relative to the file
    out = tmp_path / "out.sav.json"
    rc = main(["propagate", str(folder), "--model", "classic", "--prompts", str(prompts), "-o", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    masks = [decode(row[0]) for row in doc["masklet"]]
    assert np.array_equal(masks[0], gt[0])  # the person's mask is kept as given
    for m, g in zip(masks[1:], gt[1:]):  # and tracked: the dog moves little in 3 frames
        assert (m & g).sum() / (m | g).sum() > 0.5
    assert doc["masklet_edited_frame_count"] == [1]


def test_mask_prompt_errors_are_one_line(shared_data, tmp_path, capsys):
    folder, gt = _davis_clip(shared_data, tmp_path, n=2)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros(gt[0].shape, np.uint8)).save(tmp_path / "empty.png")
    cases = {
        "small.png": "is 10x10, the video is",
        "empty.png": "is empty",
        "missing.png": "not found",
    }
    for name, words in cases.items():
        prompts = tmp_path / "p.json"
        prompts.write_text(json.dumps([{"frame": 0, "obj_id": 1, "mask": name}]))
        rc = main(["propagate", str(folder), "--model", "classic", "--prompts", str(prompts),
                   "-o", str(tmp_path / "o.json"), "-q"])
        err = capsys.readouterr().err
        assert rc != 0 and words in err and "Traceback" not in err, (name, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.json").exists()
