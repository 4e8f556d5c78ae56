"""Segment everything against the official generators (PARITY_DIR/everything/, README there).

amg_*   SamAutomaticMaskGenerator over MobileSAM (crops included): our generate_grid.
hier_*  TinySAM's hierarchical_generate: our generate_hierarchical.
fast_nms  YOLACT's fast_nms / cc_fast_nms: our yolact_fast_nms.

Weights: the parity fill with the salt recorded in each fixture json; options (thresholds
included) come from the json too, so another fixture set made the same way must pass.
Tolerances from that README §7: a few mask pixels per mask may flip (|logit| < 1e-5),
predicted_iou atol 1e-5, stability_score atol 1e-4; the set and order of masks must match.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

_ROOT = Path(__file__).resolve().parents[2]
_SHARED = Path(os.environ.get("ANNOTATOR_SHARED", _ROOT.parent / "shared")).resolve()
PARITY_DIR = Path(os.environ.get("PARITY_DIR", _SHARED / "parity")).resolve()
EV = PARITY_DIR / "everything"

IOU_ATOL = 1e-5
STAB_ATOL = 1e-4
MAX_FLIP = 1e-4  # fraction of a mask's pixels that may differ (README: up to ~25 of 1M)


def _fixture(name: str):
    if not (EV / f"{name}.json").is_file() or not (EV / f"{name}.npz").is_file():
        pytest.skip(f"no {name} fixture in {EV}")
    return json.loads((EV / f"{name}.json").read_text()), np.load(EV / f"{name}.npz")


def _unpack(npz, name: str) -> np.ndarray:
    shape = tuple(npz[f"{name}_shape"])
    return np.unpackbits(npz[name], axis=-1, count=shape[-1]).astype(bool).reshape(shape)


def _session(card_name: str, salt: str, filled_sha256: str):
    import torch

    from annotator.engines.learned import LearnedImageSession
    from annotator.engines.registry import load_cards
    from annotator.nn import factory
    from annotator.nn.fill import fill_state_dict, state_digest

    card = load_cards()[card_name]
    with torch.device("cpu"):
        model = factory.build(dict(card.arch))
    sd = fill_state_dict(model.state_dict(), salt)
    assert state_digest(sd) == filled_sha256, "our fill differs from the fixture's"
    return LearnedImageSession(card, sd, disk_cache=False)


def _image(meta):
    img = np.load(PARITY_DIR / "inputs.npz")["image"]
    assert hashlib.sha256(img.tobytes()).hexdigest() == meta["image_sha256"]
    return img


def _compare(recs: list[dict], npz, with_crop: bool) -> None:
    from annotator.core.rle import decode

    n = int(npz["n_masks"])
    assert len(recs) == n, f"{len(recs)} masks, official {n}"
    iou = np.array([r["predicted_iou"] for r in recs], np.float64)
    # same order: every position carries the official mask's score
    assert np.abs(iou - npz["predicted_iou"]).max() <= IOU_ATOL
    stab = np.array([r["stability_score"] for r in recs])
    assert np.abs(stab - npz["stability_score"]).max() <= STAB_ATOL
    assert np.array_equal(np.array([r["point_coords"][0] for r in recs]), npz["point_coords"])
    ref = _unpack(npz, "masks")
    for i, r in enumerate(recs):
        m = decode(r["segmentation"])
        assert m.shape == ref[i].shape
        flips = int((m != ref[i]).sum())
        assert flips <= MAX_FLIP * m.size, f"mask {i}: {flips} pixels differ"
        assert abs(r["area"] - int(npz["area"][i])) <= flips
        assert np.abs(np.array(r["bbox"]) - npz["bbox_xywh"][i]).max() <= (1 if flips else 0)
        if with_crop:
            assert r["crop_box"] == npz["crop_box_xywh"][i].tolist()
    assert 0 < ref.mean() < 1  # the fixture itself is not trivial


@pytest.fixture(scope="module")
def amg_run():
    meta, npz = _fixture("amg_mobilesam")
    from annotator.everything.generator import Options, generate_grid
    from annotator.everything.masks import Stats

    w = meta["weights"]
    sess = _session("mobilesam", w["fill_salt"], w["filled_sha256"])
    stats, trace = Stats(), {}
    recs = generate_grid(sess, _image(meta), Options.from_dict(meta["options"]), stats=stats, trace=trace)
    return meta, npz, recs, stats, trace


@pytest.mark.slow
def test_amg_matches_official(amg_run):
    meta, npz, recs, stats, _ = amg_run
    # every crop, outputs or not: the filters let through as many masks as officially
    for k, sc in enumerate(meta["stage_counts"]):
        assert stats.per_pass[k]["crop_box"] == sc["crop_box_xyxy"]
        assert stats.per_pass[k]["filtered"] == sc["after_filters"], f"crop {k}"
        assert stats.per_pass[k]["kept"] == sc["after_nms"], f"crop {k}"
    _compare(recs, npz, with_crop=True)


@pytest.mark.slow
def test_amg_official_nms_thresholds(amg_run):
    """The nms07 fixture differs only in the NMS thresholds: re-run phase 2 (suppression) on
    the same candidates; the full run would repeat identical model work."""
    meta07, npz07 = _fixture("amg_mobilesam_nms07")
    meta, _, _, _, trace = amg_run
    from annotator.everything.generator import Options, finish_grid

    nms_keys = {"box_nms_thresh", "crop_nms_thresh"}
    same = {k: v for k, v in meta["options"].items() if k not in nms_keys}
    assert same == {k: v for k, v in meta07["options"].items() if k not in nms_keys}
    assert meta07["weights"]["filled_sha256"] == meta["weights"]["filled_sha256"]
    assert meta07["image_sha256"] == meta["image_sha256"]
    recs = finish_grid(trace["per_crop"], trace["crop_boxes"], Options.from_dict(meta07["options"]))
    _compare(recs, npz07, with_crop=True)


@pytest.mark.slow
def test_hierarchical_matches_official():
    meta, npz = _fixture("hier_tinysam")
    from annotator.everything.generator import Options, generate_hierarchical
    from annotator.everything.masks import Stats

    w = meta["weights"]
    sess = _session("tinysam", w["fill_salt"], w["filled_sha256"])
    stats, trace = Stats(), {}
    recs = generate_hierarchical(sess, _image(meta), Options.from_dict(meta["options"]), stats=stats, trace=trace)
    assert np.array_equal(trace["dense_grid"], npz["dense_grid"]), "second-pass points differ"
    cov = _unpack(npz, "or_results_xy").T  # the official map is indexed [x, y]
    assert (cov != trace["coverage"]).mean() <= MAX_FLIP
    assert [p["kept"] for p in stats.per_pass] == [len(npz["sparse_kept"]), len(npz["dense_kept"])]
    assert [r["stage"] for r in recs] == npz["stage"].tolist()
    _compare(recs, npz, with_crop=False)


def test_yolact_fast_nms_matches_official():
    meta, npz = _fixture("fast_nms")
    from annotator.everything.nms import yolact_fast_nms

    kw = dict(iou_threshold=float(npz["iou_threshold"]), top_k=int(npz["top_k"]),
              max_num_detections=int(npz["max_num_detections"]))
    for case in meta["cases"]:
        boxes, scores = npz[f"case_{case}_boxes"], npz[f"case_{case}_scores"]
        idx, cls, sc = yolact_fast_nms(boxes, scores, **kw)
        assert idx.tolist() == npz[f"case_{case}_out_index"].tolist(), case
        assert cls.tolist() == npz[f"case_{case}_out_classes"].tolist(), case
        assert np.array_equal(sc.numpy(), npz[f"case_{case}_out_scores"]), case
        idx, cls, sc = yolact_fast_nms(boxes, scores, cross_class=True, **kw)
        assert idx.tolist() == npz[f"case_{case}_cc_out_index"].tolist(), case
        assert cls.tolist() == npz[f"case_{case}_cc_out_classes"].tolist(), case
        assert np.array_equal(sc.numpy(), npz[f"case_{case}_cc_out_scores"]), case
