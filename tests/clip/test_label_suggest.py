"""Label suggestions: zero-shot and few-shot ranking computed independently, the three mask
embeddings, prototypes learned from a project, and `annotator labels suggest`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import clip_synth
from annotator.engines.clip_session import ClipSession
from annotator.engines.label_suggest import LabelSuggester, learn_from_project

CATS = ["apple", "sky", "truck", "dog"]


@pytest.fixture
def scene():
    rgb = np.full((96, 128, 3), 120, np.uint8)
    rgb[10:50, 10:50] = (220, 30, 30)
    rgb[50:90, 70:120] = (40, 60, 220)
    red = np.zeros(rgb.shape[:2], bool)
    red[10:50, 10:50] = True
    blue = np.zeros(rgb.shape[:2], bool)
    blue[50:90, 70:120] = True
    return rgb, red, blue


def test_zero_shot_is_softmax_over_category_embeddings(small_clip, scene):
    rgb, red, _ = scene
    sess = ClipSession(small_clip, disk_cache=False)
    sg = LabelSuggester(sess, CATS)
    v = sg.embed(rgb, red)
    logits = sess.logit_scale * (sess.text_embeddings(CATS) @ v)
    want = np.exp(logits - logits.max())
    want /= want.sum()
    got = sg.rank_embedding(v)
    assert [s.label for s in got] == [CATS[i] for i in np.argsort(-want, kind="stable")]
    assert {s.label: s.zero_shot for s in got} == pytest.approx(dict(zip(CATS, want)), abs=1e-6)
    assert all(s.few_shot is None and s.score == s.zero_shot for s in got)
    assert len(sg.suggest(rgb, red, top=2)) == 2


def test_embedding_methods(small_clip, scene):
    rgb, red, _ = scene
    sess = ClipSession(small_clip, disk_cache=False)
    pooled = LabelSuggester(sess, CATS, "pooled").embed(rgb, red)
    crop = LabelSuggester(sess, CATS, "crop").embed(rgb, red)
    both = LabelSuggester(sess, CATS, "both").embed(rgb, red)
    sess.set_image(rgb)
    np.testing.assert_allclose(pooled, sess.mask_embedding(red), atol=1e-6)
    np.testing.assert_allclose(crop, sess.crop_embeddings(rgb, [red])[0], atol=1e-6)
    s = pooled + crop
    np.testing.assert_allclose(both, s / np.linalg.norm(s), atol=1e-6)
    with pytest.raises(ValueError, match="method"):
        LabelSuggester(sess, CATS, "mean")


def test_few_shot_prototypes_mix_into_the_ranking(small_clip, scene):
    rgb, red, blue = scene
    sess = ClipSession(small_clip, disk_cache=False)
    sg = LabelSuggester(sess, CATS, few_shot_weight=1.0)
    e_red, e_blue = sg.embed(rgb, red), sg.embed(rgb, blue)
    assert float(e_red @ e_blue) < 0.999  # the two objects are told apart
    sg.add_example("apple", e_red)
    sg.add_example("sky", e_blue)
    sg.add_example("not a category", e_blue)  # ignored
    assert sg.examples() == {"apple": 1, "sky": 1}
    ranked = sg.rank_embedding(e_red)
    assert ranked[0].label == "apple" and ranked[0].few_shot > ranked[1].few_shot
    assert {s.label for s in ranked if s.few_shot is None} == {"truck", "dog"}
    sg.few_shot_weight = 0.5
    mixed = {s.label: s for s in sg.rank_embedding(e_red)}
    assert mixed["apple"].score == pytest.approx(0.5 * mixed["apple"].zero_shot + 0.5 * mixed["apple"].few_shot)
    assert mixed["dog"].score == pytest.approx(0.5 * mixed["dog"].zero_shot)


def _project(tmp_path, scene):
    from annotator.core.store import Project

    rgb, red, blue = scene
    img = tmp_path / "scene.png"
    Image.fromarray(rgb).save(img)
    p = Project.create(tmp_path / "proj")
    item = p.add_item(img, "image", rgb.shape[1], rgb.shape[0])
    cats = {c: p.add_category(c).id for c in CATS}
    t1 = p.add_track(item.id, cats["apple"])
    p.set_mask(t1.id, 0, red)
    t2 = p.add_track(item.id, cats["sky"])
    p.set_mask(t2.id, 0, blue)
    t3 = p.add_track(item.id)  # unlabelled: the same red object drawn again
    p.set_mask(t3.id, 0, red)
    return p, item, (t1, t2, t3)


def test_learn_from_project(small_clip, scene, tmp_path):
    p, _, (t1, _, _) = _project(tmp_path, scene)
    with p:
        sg = LabelSuggester(ClipSession(small_clip, disk_cache=False), CATS)
        assert learn_from_project(sg, p) == 2 and sg.examples() == {"apple": 1, "sky": 1}
        sg.clear_examples()
        assert learn_from_project(sg, p, exclude_track=t1.id) == 1 and sg.examples() == {"sky": 1}


def test_labels_suggest_cli(monkeypatch, tmp_path, small_clip, clip_vocab, scene, capsys):
    from annotator.cli import main

    clip_synth.install_small_clip(monkeypatch, tmp_path, small_clip, *clip_vocab)
    p, item, (_, _, t3) = _project(tmp_path, scene)
    p.close()
    out = tmp_path / "s.json"
    rc = main(["labels", "suggest", str(tmp_path / "proj"), "--clip", "clip_small", "--top", "4", "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    cap = capsys.readouterr()
    assert f"object {t3.obj_id} frame 0:" in cap.out and "2 labelled example(s)" in cap.err
    doc = json.loads(out.read_text())
    assert [o["object"] for o in doc["objects"]] == [t3.obj_id]
    sug = doc["objects"][0]["suggestions"]
    assert len(sug) == 4 and [s["score"] for s in sug] == sorted((s["score"] for s in sug), reverse=True)
    by = {s["label"]: s for s in sug}
    assert by["apple"]["few_shot"] > by["sky"]["few_shot"]  # the same object, labelled apple, is the closer prototype
    assert by["truck"]["few_shot"] is None and by["truck"]["score"] == pytest.approx(0.5 * by["truck"]["zero_shot"])
    assert main(["labels", "suggest", str(tmp_path / "proj"), "--clip", "clip_small", "--object", "1"]) == 2
    assert "--object needs --item" in capsys.readouterr().err
    assert main(["labels", "suggest", str(tmp_path / "proj"), "--clip", "clip_small", "--item", str(item.id),
                 "--object", "99"]) == 2
    assert "no object 99" in capsys.readouterr().err
