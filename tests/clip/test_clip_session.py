"""ClipSession on a small CLIP with synthetic weights: the cache, prompt ensembling, MaskCLIP
dense scores with key smoothing and prompt denoising, mask pooling and masked crops. Each
result is checked against an independent computation from the model itself."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from annotator.engines.clip_session import BACKGROUND, ClipSession, masked_crop

LABELS = ["truck", "groceries", "dog"]


@pytest.fixture
def sess(small_clip):
    return ClipSession(small_clip)


@pytest.fixture
def photo(clip_photos):
    return clip_photos[0][::8, ::8].copy()  # small: fast dense run


def test_dense_features_are_cached_in_memory_and_on_disk(small_clip, photo):
    a = ClipSession(small_clip)
    a.set_image(photo)
    a.set_image(photo)
    assert a.dense_runs == 1
    gh, gw, d = a.features.shape
    assert d == 32 and max(gh, gw) * 16 == 96 and np.allclose(np.linalg.norm(a.features, axis=-1), 1, atol=1e-5)
    b = ClipSession(small_clip)  # a new session (the app restarted): the disk cache answers
    b.set_image(photo)
    assert b.dense_runs == 0
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.keys, b.keys)
    c = ClipSession(small_clip, residual=False)  # other options: other features, not the cached ones
    c.set_image(photo)
    assert c.dense_runs == 1 and not np.allclose(c.features, a.features)


def test_prompt_ensemble_is_mean_of_template_embeddings(sess, small_clip):
    e = sess.text_embeddings(["truck", "dog"])
    texts = [t.format("dog") for t in sess.templates]
    with torch.inference_mode():
        each = F.normalize(small_clip.model.encode_text(torch.from_numpy(small_clip.tokenizer.encode(texts))), dim=-1)
    want = F.normalize(each.mean(0), dim=0).numpy()
    np.testing.assert_allclose(e[1], want, atol=1e-5)
    assert e.shape == (2, 32) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    plain = sess.text_embeddings(["dog"], ensemble=False)
    assert not np.allclose(plain[0], e[1], atol=1e-3)


def test_label_embeddings_are_cached_on_disk(small_clip):
    a = ClipSession(small_clip)
    ea = a.text_embeddings(["truck", "dog"])
    assert a.text_runs == 1
    b = ClipSession(small_clip)  # another process later: no text-tower run for known labels
    np.testing.assert_array_equal(b.text_embeddings(["dog", "truck"]), ea[::-1])
    assert b.text_runs == 0
    b.text_embeddings(["dog", "zebra"])
    assert b.text_runs == 1
    c = ClipSession(small_clip, templates=("a {}",))  # other templates: other embeddings
    assert not np.allclose(c.text_embeddings(["dog"])[0], ea[1]) and c.text_runs == 1


def test_dense_scores_are_softmax_over_labels_and_background(sess, photo):
    sess.set_image(photo)
    ds = sess.dense_scores(LABELS)
    gh, gw, _ = sess.features.shape
    assert ds.similarity.shape == ds.probs.shape == (3, gh, gw) and ds.kept.all()
    t = sess.text_embeddings(LABELS + list(BACKGROUND))
    logits = sess.logit_scale * sess.features.reshape(-1, 32) @ t.T
    want = np.exp(logits - logits.max(1, keepdims=True))
    want = (want / want.sum(1, keepdims=True))[:, :3].T.reshape(3, gh, gw)
    np.testing.assert_allclose(ds.probs, want, atol=1e-5)
    np.testing.assert_allclose(ds.similarity[0], (sess.features @ t[0]), atol=1e-5)
    assert ds.upsampled(0).shape == photo.shape[:2]


def test_key_smoothing_averages_over_key_neighbours(sess, photo):
    sess.set_image(photo)
    raw = sess.dense_scores(LABELS)
    np.testing.assert_allclose(sess.dense_scores(LABELS, key_smoothing=True, smooth_k=1).probs, raw.probs, atol=1e-6)
    sm = sess.dense_scores(LABELS, key_smoothing=True, smooth_k=6).probs
    assert not np.allclose(sm, raw.probs)
    # patch 0: the weighted mean of its 6 most key-similar patches
    sim = sess.keys @ sess.keys[0]
    nb = np.argsort(-sim)[:6]
    w = np.clip(sim[nb], 0, None) / np.clip(sim[nb], 0, None).sum()
    flat = raw.probs.reshape(3, -1)
    np.testing.assert_allclose(sm.reshape(3, -1)[:, 0], flat[:, nb] @ w, atol=1e-5)


def test_prompt_denoising_drops_labels_no_patch_is_sure_of(sess, photo):
    sess.set_image(photo)
    raw = sess.dense_scores(LABELS)
    peak = raw.probs.reshape(3, -1).max(1)
    thr = float(np.sort(peak)[1]) + 1e-6  # between the lowest two peaks and the rest: drops two
    ds = sess.dense_scores(LABELS, prompt_denoising=True, denoise_threshold=thr)
    assert ds.kept.tolist() == (peak >= thr).tolist() and ds.kept.sum() == 1
    assert (ds.probs[~ds.kept] == 0).all()
    k = int(np.flatnonzero(ds.kept)[0])
    assert (ds.probs[k] >= raw.probs[k] - 1e-6).all()  # fewer competitors: never less sure
    none = sess.dense_scores(LABELS, prompt_denoising=True, denoise_threshold=0.0)
    np.testing.assert_allclose(none.probs, raw.probs, atol=1e-6)


def test_mask_embedding_pools_the_covered_patches(sess, photo):
    sess.set_image(photo)
    h, w = photo.shape[:2]
    full = sess.mask_embedding(np.ones((h, w), bool))
    mean = sess.features.reshape(-1, 32).mean(0)
    np.testing.assert_allclose(full, mean / np.linalg.norm(mean), atol=1e-5)
    gh, gw, _ = sess.features.shape
    one = np.zeros((h, w), bool)  # exactly the pixels of grid cell (1, 2)
    ys = slice(int(np.ceil(h / gh)), int(2 * h / gh))
    xs = slice(int(np.ceil(2 * w / gw)), int(3 * w / gw))
    one[ys, xs] = True
    np.testing.assert_allclose(sess.mask_embedding(one), sess.features[1, 2], atol=1e-5)
    assert not sess.mask_embedding(np.zeros((h, w), bool)).any()
    with pytest.raises(ValueError, match="does not match"):
        sess.mask_embedding(np.ones((h + 1, w), bool))


def test_masked_crop_and_crop_embeddings(sess, photo):
    h, w = photo.shape[:2]
    m = np.zeros((h, w), bool)
    m[10:40, 20:30] = True
    crop = masked_crop(photo, m, margin=0.0)
    assert crop.shape[0] == crop.shape[1] == 31
    grey = (crop == crop[0, 0]).all(-1)
    assert grey.sum() >= crop.shape[0] * crop.shape[1] - 30 * 10 and not grey.all()
    e = sess.crop_embeddings(photo, [m, ~m])
    assert e.shape == (2, 32) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert not np.allclose(e[0], e[1])
