"""The app-side pieces the GUI's Find box and label suggestions use, without Qt: the Find box's
label parsing, the shared CLIP provider, and few-shot examples learned from store records with
an embedding cache kept between calls."""
from __future__ import annotations

import numpy as np
import pytest

import clip_synth
from annotator.app.clip_provider import ClipProvider
from annotator.app.label_suggest import LabelSuggester, labelled_records, learn_from_project, learn_from_records
from annotator.app.text_find import parse_labels


def test_parse_labels():
    assert parse_labels("car") == ["car"]
    assert parse_labels(" car , truck,,car, traffic light ") == ["car", "truck", "traffic light"]
    assert parse_labels(" , ") == []


def test_provider_says_what_is_missing_then_loads_once(monkeypatch, tmp_path, small_clip, clip_vocab):
    none = ClipProvider()
    reason = none.missing()
    assert reason and "annotator models download clip_b16" in reason and "Model manager" in reason
    with pytest.raises(Exception, match="models download"):
        none.get()
    assert "not installed" in ClipProvider("clip_b16").missing()
    assert "not a CLIP model" in ClipProvider("edgesam").missing()
    assert "nosuchmodel" in ClipProvider("nosuchmodel").missing()

    name = clip_synth.install_small_clip(monkeypatch, tmp_path, small_clip, *clip_vocab)
    p = ClipProvider()
    assert p.missing() is None
    s = p.get()
    assert s.name == name and p.get() is s
    e = s.text_embeddings(["car"])
    assert e.shape == (1, small_clip.card.arch["embed_dim"])


def test_examples_from_records_match_the_project_path_and_are_cached(tmp_path, small_clip, clip_photos):
    from annotator.core.store import Project
    from annotator.engines.clip_session import ClipSession
    from annotator.media.image import load_image
    from PIL import Image

    rgb = clip_photos[1][::4, ::4].copy()
    img = tmp_path / "img.png"
    Image.fromarray(rgb).save(img)
    h, w = rgb.shape[:2]
    cs = ClipSession(small_clip, disk_cache=False)
    with Project.create(tmp_path / "p") as p:
        item = p.add_item(img, "image", w, h)
        parts = (("a", np.s_[: h // 2, : w // 2]), ("b", np.s_[h // 2:, w // 2:]), ("a", np.s_[h // 2:, : w // 3]))
        for name, sl in parts:
            m = np.zeros((h, w), bool)
            m[sl] = True
            t = p.add_track(item.id, category_id=p.ensure_category(name).id)
            p.set_masks([{"track_id": t.id, "frame": 0, "mask": m, "source": "manual"}])
        p.add_track(item.id)  # no category: not an example
        recs = labelled_records(p)
        assert [r[0] for r in recs] == ["a", "b", "a"]

        ref = LabelSuggester(cs, ["a", "b"])
        assert learn_from_project(ref, p) == 3
        cache: dict = {}
        loads = []
        first = LabelSuggester(cs, ["a", "b"])
        assert learn_from_records(first, recs, cache, load=lambda it, f: loads.append(f) or load_image(it.abspath)) == 3
        assert len(cache) == 3 and loads == [0]  # one frame read for the three objects of one image
        again = LabelSuggester(cs, ["a", "b"])
        calls = []
        orig = again.embed
        again.embed = lambda *a: calls.append(1) or orig(*a)
        assert learn_from_records(again, recs, cache) == 3
        assert calls == []  # every example came from the cache
        probe = np.zeros((h, w), bool)
        probe[h // 4: h // 2, w // 4: w // 2] = True
        v = ref.embed(rgb, probe)
        for s in (first, again):
            assert s.examples() == {"a": 2, "b": 1}
            for x, y in zip(s.rank_embedding(v), ref.rank_embedding(v)):
                assert x.label == y.label and x.score == pytest.approx(y.score, rel=1e-5)
