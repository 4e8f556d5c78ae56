"""annotator.app.media: the one folder classifier (GUI and CLI) and adding probed media."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from annotator.app import media
from annotator.core.store import Project
from annotator.errors import MediaError
from annotator.media import probe


def _img(path, v=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 10, 3), v, np.uint8)).save(path)
    return path


def test_numbered_images_make_a_frame_folder(tmp_path):
    for i in (0, 1, 10):
        _img(tmp_path / "clip" / f"{i}.png")
    (tmp_path / "clip" / "notes.txt").write_text("x")  # not an image: does not count
    _img(tmp_path / "clip" / ".hidden.png")  # hidden: does not count, as in a frame listing
    assert media.is_frame_folder(tmp_path / "clip")
    _img(tmp_path / "photos" / "00001.jpg")
    _img(tmp_path / "photos" / "cat.jpg")
    assert not media.is_frame_folder(tmp_path / "photos")
    _img(tmp_path / "arabic" / "\u0661\u0662.png")  # unicode digits are not frame numbers
    assert not media.is_frame_folder(tmp_path / "arabic")


def test_expand_reads_folders_by_the_classifier_or_as_forced(tmp_path):
    for i in range(2):
        _img(tmp_path / "clip" / f"{i:05d}.png")
    _img(tmp_path / "photos" / "a.jpg")
    _img(tmp_path / "photos" / "b.jpg")
    single = _img(tmp_path / "one.png")
    assert media.expand([tmp_path / "clip", tmp_path / "photos", single]) == [
        tmp_path / "clip", tmp_path / "photos" / "a.jpg", tmp_path / "photos" / "b.jpg", single]
    assert media.expand([tmp_path / "clip"], "images") == [tmp_path / "clip" / "00000.png", tmp_path / "clip" / "00001.png"]
    assert media.expand([tmp_path / "photos"], "frames") == [tmp_path / "photos"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="empty: folder has no images"):
        media.expand([tmp_path / "empty"])
    with pytest.raises(MediaError, match="nope: file not found"):
        media.expand([tmp_path / "nope"])


def test_add_probed_is_one_undo_step_and_skips_what_the_project_has(tmp_path):
    a, b = _img(tmp_path / "a.png"), _img(tmp_path / "b.png")
    with Project.create(tmp_path / "p.annotator") as p:
        added, failed = media.add_probed(p, [(a, probe(a)), (tmp_path / "x.png", MediaError("x.png: bad"))])
        assert len(added) == 1 and [f for f, _ in failed] == [str(tmp_path / "x.png")]
        added, _ = media.add_probed(p, [(a, probe(a)), (b, probe(b))])
        assert [p.item(i).name for i in added] == ["b.png"]
        assert p.undo() == "Add 1 media" and len(p.items()) == 1
        added, _ = media.add_probed(p, [(a, probe(a))], skip_existing=False)
        assert len(added) == 1 and len(p.items()) == 2


def test_opened_paths_split_into_projects_and_media(tmp_path):
    img = _img(tmp_path / "a" / "cat.png")
    projects, found = media.split_projects([str(tmp_path / "x.annotator"), str(tmp_path / "a")])
    assert projects == [str(tmp_path / "x.annotator")] and found == [str(img)]


def test_a_new_project_goes_beside_the_media_or_to_the_data_dir(tmp_path, monkeypatch):
    img = _img(tmp_path / "shoot" / "cat.png")
    assert media.default_project_path(img) == tmp_path / "shoot" / "shoot.annotator"
    _img(tmp_path / "clip" / "0.png")
    assert media.default_project_path(tmp_path / "clip") == tmp_path / "clip.annotator"
    monkeypatch.setattr("os.access", lambda *a, **k: False)  # a read-only media folder
    p = media.default_project_path(img)
    assert p.name == "shoot.annotator" and p.parent.name == "projects" and p.parent.is_dir()


def test_reopening_known_media_finds_its_item(tmp_path):
    img = _img(tmp_path / "cat.png")
    proj = Project.create(tmp_path / "p.annotator")
    (added,), _ = media.add_probed(proj, [(str(img), probe(img))])
    assert media.first_known(proj, [(str(tmp_path / "gone.png"), MediaError("x")), (str(img), probe(img))]) == added
    assert media.first_known(proj, [(str(_img(tmp_path / "new.png")), probe(img))]) is None
    proj.close()
