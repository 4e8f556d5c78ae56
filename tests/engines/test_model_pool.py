"""Engines load weights one way: the image and video sessions of one card share one model, and
the video loader refuses another family's checkpoint like the image loader does."""
from __future__ import annotations

import gc

import pytest

torch = pytest.importorskip("torch")

from annotator.engines import model_pool  # noqa: E402
from annotator.engines.registry import get_card  # noqa: E402
from annotator.errors import CheckpointError  # noqa: E402
from annotator.engines.signatures import LAYOUTS  # noqa: E402

SIZE = 128


@pytest.fixture(scope="module")
def small_card():
    card = get_card("sam2.1_hiera_tiny")
    return {"name": "sam2.1_hiera_tiny", "arch": dict(card.arch, image_size=SIZE),
            "input": dict(card.input, image_size=SIZE), "checkpoint": card.checkpoint,
            "schema": card.schema}


def test_image_and_video_sessions_of_one_card_share_the_model(small_card):
    from annotator.engines.learned import LearnedImageSession
    from annotator.engines.video import LearnedVideoSession

    video = LearnedVideoSession(small_card, "random")
    image = LearnedImageSession(small_card, "random")
    assert image.model is video.model
    other = dict(small_card, arch=dict(small_card["arch"], image_size=2 * SIZE))
    assert model_pool.shared_model(other, "random")[0] is not video.model  # another arch, another model


def test_the_pool_forgets_a_model_no_session_holds(small_card):
    model, ident = model_pool.shared_model(small_card, "random")
    assert ident == "random"
    key = model_pool._key(small_card, "random")
    del model
    gc.collect()
    assert key not in model_pool._models


def test_video_loader_refuses_another_familys_checkpoint(small_card, tmp_path):
    from annotator.engines.video import LearnedVideoSession

    sd = {k: torch.zeros(s) for k, s in LAYOUTS["mobilesam"]["present"].items()}
    sd["mask_decoder.iou_token.weight"] = torch.zeros(1, 256)
    torch.save(sd, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="checkpoint for mobilesam / tinysam, not for sam2.1_hiera_tiny"):
        LearnedVideoSession(small_card, tmp_path / "w.pth")
