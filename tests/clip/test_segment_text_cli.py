"""`annotator segment IMAGE --text ...`: JSON of scored masks and auto objects in a project (one
undo step), through an installed (small, synthetic) CLIP card and the classic image engine."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import clip_synth
from annotator.cli import main


@pytest.fixture
def setup(monkeypatch, tmp_path, small_clip, clip_vocab, clip_photos):
    clip_synth.install_small_clip(monkeypatch, tmp_path, small_clip, *clip_vocab)
    img = tmp_path / "photo.png"
    Image.fromarray(clip_photos[1][::6, ::6].copy()).save(img)
    return tmp_path, img


def test_segment_text_writes_json_and_project_objects(setup, capsys):
    from annotator.core import rle
    from annotator.core.store import Project

    tmp, img = setup
    Project.create(tmp / "proj").close()
    out = tmp / "masks.json"
    rc = main(["segment", str(img), "--text", "car", "--text", "bag", "--model", "classic", "--clip", "clip_small",
               "--relative", "--threshold", "0.8", "--max-per-label", "2", "-o", str(out), "--project", str(tmp / "proj")])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc["clip"] == "clip_small" and doc["labels"] == ["car", "bag"]
    assert 1 <= len(doc["masks"]) <= 4
    w, h = Image.open(img).size
    for m in doc["masks"]:
        mask = rle.decode(m["rle"])
        assert mask.shape == (h, w) and int(mask.sum()) == m["area"] > 0
        assert m["score"] == pytest.approx(m["clip_score"] * m["mask_score"], abs=1e-5)
    err = capsys.readouterr().err
    assert "found" in err and "auto object" in err
    with Project.open(tmp / "proj") as p:
        items = p.items()
        assert len(items) == 1 and items[0].width == w
        tracks = p.tracks(items[0].id)
        assert len(tracks) == len(doc["masks"])
        names = {c.id: c.name for c in p.categories()}
        assert sorted(names[t.category_id] for t in tracks) == sorted(m["label"] for m in doc["masks"])
        assert all(p.mask(t.id, 0).source == "auto" for t in tracks)
        # (undo history lives in the process that made it; test_text_find checks the one step)


@pytest.mark.parametrize("argv, message", [
    (["--text", "car", "-o", "x.png"], "JSON"),
    (["--text", "car"], "-o masks.json"),
    (["--text", "car", "--point", "3,4", "-o", "x.json"], "does not combine"),
    (["--text", "car", "--threshold", "2", "-o", "x.json"], "between 0 and 1"),
    (["--text", "  ", "-o", "x.json"], "non-empty"),
])
def test_segment_text_bad_arguments_are_one_line(setup, capsys, argv, message):
    tmp, img = setup
    argv = [a if not a.endswith((".png", ".json")) else str(tmp / a) for a in argv]
    assert main(["segment", str(img), "--model", "classic", "--clip", "clip_small", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_segment_text_without_clip_installed(tmp_path, capsys, clip_photos, monkeypatch):
    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", str(tmp_path / "empty"))
    img = tmp_path / "p.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    assert main(["segment", str(img), "--text", "car", "--model", "classic", "-o", str(tmp_path / "m.json")]) == 2
    assert "annotator models download clip_b16" in capsys.readouterr().err
