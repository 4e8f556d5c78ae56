"""The batched click path (`predict_points`) gives what one `predict` click gives, per family."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
@pytest.mark.parametrize("card", ["mobilesam", "sam2.1_hiera_tiny"])
def test_predict_points_equals_single_clicks(card, shared_data):
    from annotator.engines.learned import LearnedImageSession
    from annotator.engines.registry import get_card
    from annotator.media.image import load_image

    rgb = load_image(shared_data / "images_truck.jpg")[::4, ::4].copy()  # 450x300: resize paths run
    kw = {} if card.startswith("sam2") else {"disk_cache": False}
    s = LearnedImageSession(get_card(card), "random", **kw)
    s.set_image(rgb)
    s.set_image(rgb.copy())  # same content: the embedding is reused
    assert s.encoder_runs == 1
    pts = np.array([[40.0, 30.0], [200.0, 150.0], [420.0, 280.0]])
    low, iou = s.predict_points(pts)
    assert tuple(low.shape[:2]) == (3, 3) and tuple(iou.shape) == (3, 3)
    for i, p in enumerate(pts):
        one = s.predict(points=p[None].astype(np.float32), labels=np.array([1]), multimask=True)
        ref = np.clip(low[i].numpy(), -32, 32) if card.startswith("sam2") else low[i].numpy()
        assert np.abs(ref - one.lowres_logits).max() < 1e-4
        assert np.abs(iou[i].numpy() - one.scores).max() < 1e-5
        up = s.upsample_logits(low[i]) > 0
        assert up.shape == (3, 300, 450)
        assert (up != one.masks).mean() < 1e-4
