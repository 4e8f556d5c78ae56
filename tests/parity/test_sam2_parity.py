"""SAM 2 family (SAM 2.1, EfficientTAM, EdgeTAM) against the official implementations.

Generic over every video-model fixture in ${PARITY_DIR:-../shared/parity} (a fixture whose npz
holds `video_lowres`). For each: the card models/<model>.yaml must build a model whose state-dict
layout equals the schema; the parity fill (salt from the schema) must reproduce
`filled_sha256`; then the image path (cached features, high-res features, the three prompt
cases) and the video path through our LearnedVideoSession: scenario A (two objects prompted on
frame 0, forward over all frames) and scenario B (a correction click kept as a conditioning
frame, then propagation again from it), frame by frame and object by object.

Nothing here depends on a particular fixture set's values: any set made the same way (other
salt, other inputs) must pass. Fixtures whose encoder or memory variant is not implemented yet
are skipped with the reason.

Tolerances (../shared/parity/README.md §5) and why:
- features*: |d| <= 2e-3·|ref| on values above 1% of the max, |d| <= 2e-3·max elsewhere; the
  fixture stores float16 (relative rounding 2^-11 ≈ 4.9e-4) and 12+ transformer blocks in float32
  add a little more.
- case*_lowres atol 1e-4; case scores / object scores atol 1e-5 (README values).
- video_lowres / corr_lowres: atol 1e-2 plus the float16 storage rounding of the reference,
  |ref|·2^-11 (logits reach ±30 or more, where one float16 half-step is already 0.008-0.016).
- video object scores: atol 1e-4 (10x the image path's). The official memories are stored in
  bfloat16; a value within float32 noise of a bfloat16 rounding boundary may round the other way
  (one bf16 step = 0.4%), and that difference travels through memory attention into later
  frames. Measured on SAM 2.1-T: <= 1e-6 (printed with `-s`).
- masks: at most 0.01% of pixels may differ, and only where our logit is near zero
  (|logit| <= 0.05 for video, 1e-3 for the image path): a flip elsewhere is a real error.
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

_ROOT = Path(__file__).resolve().parents[2]
_SHARED = Path(os.environ.get("ANNOTATOR_SHARED", _ROOT.parent / "shared")).resolve()
PARITY_DIR = Path(os.environ.get("PARITY_DIR", _SHARED / "parity")).resolve()
CARDS = _ROOT / "models"

ENCODER_MODULES = {"hiera": "annotator.nn.hiera", "vitdet": "annotator.nn.vitdet",
                   "repvit_m1_timm": "annotator.nn.repvit_timm"}
VARIANT_MODULES = {"rope": "annotator.nn.memory", "efficient1": "annotator.nn.efficient_memory",
                   "efficient2": "annotator.nn.efficient_memory", "perceiver": "annotator.nn.perceiver"}


def _video_fixtures() -> list[str]:
    out = []
    if PARITY_DIR.is_dir():
        for p in sorted(PARITY_DIR.glob("*.schema.json")):
            name = p.name[: -len(".schema.json")]
            npz = PARITY_DIR / f"{name}.npz"
            if npz.is_file() and "video_lowres" in np.load(npz).files:
                out.append(name)
    return out or ["<no fixtures>"]


MODELS = _video_fixtures()
_RUNS: dict[str, dict] = {}


def _card(model: str) -> dict:
    if model == "<no fixtures>":
        pytest.skip(f"no SAM 2 family video fixtures in {PARITY_DIR}")
    import yaml

    from annotator.nn.factory import family_implemented

    path = CARDS / f"{model}.yaml"
    if not path.is_file():
        pytest.skip(f"{model}: no model card {path.name} yet")
    card = yaml.safe_load(path.read_text())
    arch = card["arch"]
    if arch.get("family") != "sam2" or not family_implemented("sam2"):
        pytest.skip(f"{model}: family {arch.get('family')!r} not implemented")
    for kind, mod in (("encoder", ENCODER_MODULES.get(arch.get("encoder"))),
                      ("memory variant", VARIANT_MODULES.get((arch.get("memory_attention") or {}).get("variant", "rope")))):
        if mod is None or importlib.util.find_spec(mod) is None:
            pytest.skip(f"{model}: {kind} module {mod} not implemented yet")
    return card


def _unpack(ref, key: str) -> np.ndarray:
    shape = ref[f"{key}_shape"]
    return np.unpackbits(ref[key], axis=-1, count=int(shape[-1])).astype(bool).reshape(shape)


def _run(model: str) -> dict:
    """Build + fill + run everything once per model and process; tests read the results."""
    if model in _RUNS:
        return _RUNS[model]
    card = _card(model)
    from annotator.engines.sam2_image import Sam2ImagePredictor
    from annotator.engines.video import LearnedVideoSession
    from annotator.nn.factory import build
    from annotator.nn.fill import fill_model, state_digest

    schema = json.loads((PARITY_DIR / f"{model}.schema.json").read_text())
    ref = np.load(PARITY_DIR / f"{model}.npz")
    inputs = np.load(PARITY_DIR / "inputs.npz")
    suffix = "_512" if int(schema.get("image_size", 1024)) == 512 else ""
    r: dict = {"schema": schema, "ref": ref}
    model_ = build(card["arch"])
    r["layout"] = {k: list(v.shape) for k, v in model_.state_dict().items()}
    r["digest"] = state_digest(fill_model(model_, schema["fill_salt"]))

    # image path
    pred = Sam2ImagePredictor(model_, card)
    pred.set_image(inputs["image" + suffix])
    r["features"] = pred.features["image_embed"].numpy()
    hr = pred.features["high_res_feats"]
    r["hr"] = None if hr is None else (hr[0].numpy()[:, :, ::4, ::4], hr[1].numpy()[:, :, ::2, ::2])
    cases = {}
    for k in (1, 2, 3):
        pts, labs, box = ref[f"case{k}_points"], ref[f"case{k}_labels"], ref[f"case{k}_box"]
        p = pred.predict(pts if len(pts) else None, labs if len(labs) else None, box if len(box) else None,
                         None, bool(ref[f"case{k}_multimask"]))
        cases[k] = (p, pred.last_object_score_logits.copy(), _upsampled_logits(pred, ref, k))
    r["cases"] = cases

    # video path, scenario A then B in one session (the fixture checked A is identical in B's run)
    frames = inputs["video_frames" + suffix]
    sess = LearnedVideoSession(card, model_, feature_cache=len(frames), precision="fp32")
    sess.open(list(frames))
    ids = [int(i) for i in ref["video_obj_ids"]]
    sess.add_prompt(0, ids[0], ref["video_obj1_points"], ref["video_obj1_labels"])
    sess.add_prompt(0, ids[1], box=ref["video_obj2_box"])
    r["A"] = _collect(sess, sess.propagate(0), ids)
    c_frame, c_obj = int(ref["corr_frame_idx"]), int(ref["corr_obj_id"])
    sess.add_prompt(c_frame, c_obj, ref["corr_points"], ref["corr_labels"])
    r["B"] = _collect(sess, sess.propagate(c_frame), ids)
    r["ids"] = ids
    _RUNS[model] = r
    return r


def _upsampled_logits(pred, ref, k: int) -> np.ndarray:
    """Our unclamped low-res logits of case k upsampled like the masks (to judge flipped pixels)."""
    import torch
    import torch.nn.functional as F

    from annotator.nn.sam_heads import select_sam2

    m = pred.model
    pts, labs, box = ref[f"case{k}_points"], ref[f"case{k}_labels"], ref[f"case{k}_box"]
    coords, labels = [], []
    h, w = pred.orig_hw
    if len(box):
        coords.append(box.reshape(2, 2))
        labels.append(np.array([2, 3]))
    if len(pts):
        coords.append(pts)
        labels.append(labs)
    c = torch.from_numpy(np.concatenate(coords).astype(np.float32)) / torch.tensor([w, h]) * pred.image_size
    with torch.inference_mode():
        sparse, dense = m.sam_prompt_encoder(points=(c[None], torch.from_numpy(np.concatenate(labels))[None]))
        out = m.sam_mask_decoder(pred.features["image_embed"], m.sam_prompt_encoder.get_dense_pe(), sparse, dense,
                                 high_res_features=pred.features["high_res_feats"])
        low, _, _ = select_sam2(out, bool(ref[f"case{k}_multimask"]), m.dynamic_multimask)
        return F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[0].numpy()


def _collect(sess, it, ids) -> dict:
    import torch
    import torch.nn.functional as F

    out = {"frames": [], "lowres": [], "scores": [], "masks": [], "logits": []}
    for t, masks in it:
        lr, sc, mk, lg = [], [], [], []
        for oid in ids:
            o = sess.output(t, oid)
            lr.append(o.pred_masks[0].numpy().copy())
            sc.append(o.score.reshape(-1).numpy().copy())
            mk.append(masks[oid][None])
            with torch.inference_mode():
                lg.append(F.interpolate(o.pred_masks, size=masks[oid].shape, mode="bilinear",
                                        align_corners=False)[0].numpy())
        out["frames"].append(t)
        out["lowres"].append(np.stack(lr))
        out["scores"].append(np.stack(sc))
        out["masks"].append(np.stack(mk))
        out["logits"].append(np.stack(lg))
    return {k: (np.stack(v) if k != "frames" else v) for k, v in out.items()}


def _check_masks(ours, ref, logits, near_zero: float, what: str):
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs {ref.shape}"
    diff = ours != ref
    per = diff.reshape(-1, *diff.shape[-2:]).sum(axis=(-2, -1))
    limit = max(1, int(1e-4 * diff.shape[-2] * diff.shape[-1]))
    assert per.max() <= limit, f"{what}: up to {per.max()} mask pixels differ (limit {limit})"
    if diff.any():
        worst = float(np.abs(logits[diff]).max())
        assert worst <= near_zero, f"{what}: a pixel flipped where our logit is {worst:.4g} (not near zero)"


def _check_features(ours, ref, what: str):
    ref = ref.astype(np.float32)
    peak = float(np.abs(ref).max())
    d = np.abs(ours - ref)
    big = np.abs(ref) > 0.01 * peak
    rel = float((d[big] / np.abs(ref[big])).max())
    assert rel <= 2e-3, f"{what}: relative difference {rel:.3g} on values above 1% of the max"
    assert float(d.max()) <= 2e-3 * peak, f"{what}: max difference {d.max():.3g} (max value {peak:.3g})"


def _check_video(run: dict, ref, key: str, frames: list[int]):
    lowref = ref[f"{key}_lowres"].astype(np.float32)
    tol = 1e-2 + np.abs(lowref) * 2.0 ** -11
    d = np.abs(run["lowres"] - lowref)
    bad = d > tol
    assert not bad.any(), (f"{key}_lowres: {bad.sum()} values beyond tolerance, max diff {d.max():.4g} "
                           f"(frame/object of the worst: {np.unravel_index(d.argmax(), d.shape)[:2]})")
    ds = np.abs(run["scores"] - ref[f"{key}_object_score_logits"])
    assert ds.max() <= 1e-4, f"{key}_object_score_logits: max diff {ds.max():.3g}"
    _check_masks(run["masks"], _unpack(ref, f"{key}_masks"), run["logits"], 0.05, f"{key}_masks")
    print(f"\n{key}: frames {frames}: max |lowres diff| {d.max():.3g}, max |score diff| {ds.max():.3g}, "
          f"mask pixels differing {(run['masks'] != _unpack(ref, f'{key}_masks')).sum()}")


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_layout_and_fill(model):
    r = _run(model)
    schema = r["schema"]
    theirs = {k: list(v) for k, v in schema["state_dict"].items()}
    assert sorted(set(r["layout"]) ^ set(theirs)) == [], "state-dict names differ from the official layout"
    wrong = {k: (r["layout"][k], theirs[k]) for k in theirs if r["layout"][k] != theirs[k]}
    assert not wrong, f"shapes differ: {list(wrong.items())[:4]}"
    assert r["digest"] == schema["filled_sha256"], "parity fill digest differs from the fixture's"


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_image_path(model):
    r = _run(model)
    ref = r["ref"]
    _check_features(r["features"], ref["features"], "features")
    if "features_hr0_sub4" in ref.files:
        assert r["hr"] is not None, "the fixture has high-res features, our model has none"
        _check_features(r["hr"][0], ref["features_hr0_sub4"], "features_hr0_sub4")
        _check_features(r["hr"][1], ref["features_hr1_sub2"], "features_hr1_sub2")
    for k, (p, obj, logits) in r["cases"].items():
        d = np.abs(p.lowres_logits - ref[f"case{k}_lowres"])
        assert d.max() <= 1e-4, f"case{k}_lowres: max diff {d.max():.3g}"
        assert np.abs(p.scores - ref[f"case{k}_scores"]).max() <= 1e-5, f"case{k}_scores"
        assert np.abs(obj - ref[f"case{k}_object_score_logits"]).max() <= 1e-5, f"case{k}_object_score_logits"
        _check_masks(p.masks, _unpack(ref, f"case{k}_masks"), logits, 1e-3, f"case{k}_masks")


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_video_plain_propagation(model):
    r = _run(model)
    ref = r["ref"]
    n = ref["video_lowres"].shape[0]
    assert r["A"]["frames"] == list(range(n))
    _check_video(r["A"], ref, "video", r["A"]["frames"])


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_video_corrections_kept(model):
    r = _run(model)
    ref = r["ref"]
    assert bool(ref["corr_add_all_frames_to_correct_as_cond"]), "fixture made without corrections as cond"
    assert r["B"]["frames"] == [int(f) for f in ref["corr_frame_indices"]]
    _check_video(r["B"], ref, "corr", r["B"]["frames"])
