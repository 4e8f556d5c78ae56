"""EfficientTAM (ViTDet encoder) and EdgeTAM (timm RepViT + FPN) image encoders against the
official fixtures: state-dict layout, fill digest and the cached image embedding.

The whole-model image/video parity runs through tests/parity/test_sam2_parity.py; this file pins
the encoder parts on their own so a mismatch is located quickly. Fixture sets are found in
PARITY_DIR (any set made the same way, with its own salt and inputs).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

# same resolution as tests/conftest.py (needed at collection time for the parametrisation)
_ROOT = Path(__file__).resolve().parents[2]
_SHARED = Path(os.environ.get("ANNOTATOR_SHARED", _ROOT.parent / "shared")).resolve()
PARITY_DIR = Path(os.environ.get("PARITY_DIR", _SHARED / "parity")).resolve()

VITDET_KEY = "image_encoder.neck.convs.0.conv_1x1.weight"
REPVIT_KEY = "image_encoder.trunk.body.stem.conv1.c.weight"


def _schemas():
    out = []
    if PARITY_DIR.is_dir():
        for p in sorted(PARITY_DIR.glob("*.schema.json")):
            sd = json.loads(p.read_text())["state_dict"]
            if VITDET_KEY in sd or REPVIT_KEY in sd:
                out.append(p.name[: -len(".schema.json")])
    return out or ["<no fixtures>"]


MODELS = _schemas()


def _load(model: str):
    if model == "<no fixtures>":
        pytest.skip(f"no EfficientTAM/EdgeTAM fixtures in {PARITY_DIR}")
    return json.loads((PARITY_DIR / f"{model}.schema.json").read_text())


def _encoder_for(schema: dict):
    """Build our encoder from the schema's layout (sizes read from the shapes, as a card would give)."""
    sd = schema["state_dict"]
    if VITDET_KEY in sd:
        from annotator.nn.vitdet import build_encoder

        dim = sd["image_encoder.trunk.pos_embed"][-1]
        heads = {192: 3, 384: 6}[dim]
        depth = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k)))
        return build_encoder({"vitdet": {"embed_dim": dim, "num_heads": heads, "depth": depth}})
    from annotator.nn.repvit_timm import build_encoder

    return build_encoder({})


def _filled_encoder(model: str):
    from annotator.nn.fill import fill_state_dict

    schema = _load(model)
    enc = _encoder_for(schema)
    ours = {"image_encoder." + k: v for k, v in enc.state_dict().items()}
    filled = fill_state_dict(ours, schema["fill_salt"])
    enc.load_state_dict({k[len("image_encoder."):]: v for k, v in filled.items()}, strict=True)
    enc.eval()
    return schema, enc


@pytest.mark.parametrize("model", MODELS)
def test_encoder_layout_matches_official(model):
    schema = _load(model)
    enc = _encoder_for(schema)
    ours = {"image_encoder." + k: list(v.shape) for k, v in enc.state_dict().items()}
    theirs = {k: list(v) for k, v in schema["state_dict"].items() if k.startswith("image_encoder.")}
    assert sorted(set(ours) ^ set(theirs)) == []
    assert {k: v for k, v in ours.items() if theirs[k] != v} == {}


def _input_image(schema: dict) -> np.ndarray:
    key = re.search(r"\['(\w+)'\]", schema["inputs"]["image"]).group(1)
    return np.load(PARITY_DIR / "inputs.npz")[key]


def _normalise(rgb: np.ndarray, schema: dict) -> torch.Tensor:
    x = torch.from_numpy(rgb).permute(2, 0, 1).float()[None] / 255.0
    mean = torch.tensor(schema["pixel_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(schema["pixel_std"]).view(1, 3, 1, 1)
    return (x - mean) / std


def _assert_close_fp16(ours: torch.Tensor, ref: np.ndarray, what: str):
    """README §5: float16-stored features, rtol 2e-3 on values above 1% of the max."""
    ref_t = torch.from_numpy(ref.astype(np.float32))
    assert ours.shape == ref_t.shape, what
    big = ref_t.abs() > 0.01 * ref_t.abs().max()
    rel = ((ours - ref_t).abs()[big] / ref_t.abs()[big]).max().item()
    small_abs = (ours - ref_t).abs()[~big].max().item() if (~big).any() else 0.0
    assert rel < 2e-3, f"{what}: max rel err {rel:.2e} on |x| > 1% max"
    # below 1% of the max only float16 quantisation (a step of ~1e-3 relative) is expected
    assert small_abs < 2e-3 * ref_t.abs().max().item(), f"{what}: small-value abs err {small_abs:.2e}"


@pytest.mark.parametrize("model", MODELS)
def test_image_embedding_matches_official(model):
    from annotator.nn.fill import fill_state_dict

    schema, enc = _filled_encoder(model)
    ref = np.load(PARITY_DIR / f"{model}.npz")
    with torch.no_grad():
        out = enc(_normalise(_input_image(schema), schema))
    # the cached embedding of SAM 2 family predictors = 64x64 level + no_mem_embed
    no_mem = fill_state_dict({"no_mem_embed": torch.zeros(1, 1, 256)}, schema["fill_salt"])["no_mem_embed"]
    feats = out["vision_features"] + no_mem.view(1, -1, 1, 1)
    _assert_close_fp16(feats, ref["features"], f"{model} features")
    if "features_hr0_sub4" in ref.files:
        # high-res levels as cached by the predictor: after the decoder's conv_s0 / conv_s1
        convs = fill_state_dict(
            {
                "sam_mask_decoder.conv_s0.weight": torch.zeros(32, 256, 1, 1),
                "sam_mask_decoder.conv_s0.bias": torch.zeros(32),
                "sam_mask_decoder.conv_s1.weight": torch.zeros(64, 256, 1, 1),
                "sam_mask_decoder.conv_s1.bias": torch.zeros(64),
            },
            schema["fill_salt"],
        )
        f0, f1 = out["backbone_fpn"][0], out["backbone_fpn"][1]
        hr0 = torch.nn.functional.conv2d(f0, convs["sam_mask_decoder.conv_s0.weight"], convs["sam_mask_decoder.conv_s0.bias"])
        hr1 = torch.nn.functional.conv2d(f1, convs["sam_mask_decoder.conv_s1.weight"], convs["sam_mask_decoder.conv_s1.bias"])
        _assert_close_fp16(hr0[..., ::4, ::4], ref["features_hr0_sub4"], f"{model} hr0")
        _assert_close_fp16(hr1[..., ::2, ::2], ref["features_hr1_sub2"], f"{model} hr1")


CARDS_DIR = _ROOT / "models"
CARDS = sorted(p.stem for p in CARDS_DIR.glob("efficienttam_*.yaml")) + ["edgetam"]


@pytest.mark.parametrize("card", CARDS)
def test_card_builds_official_layout(card):
    """Every EfficientTAM/EdgeTAM card builds a model whose full state dict has exactly the official
    names/shapes (schemas/<schema>.tsv, computed from the official code) and parameter count."""
    import yaml

    from annotator.nn import factory

    spec = yaml.safe_load((CARDS_DIR / f"{card}.yaml").read_text())
    tsv = PARITY_DIR / "schemas" / f"{spec['schema']}.tsv"
    if not tsv.is_file():
        pytest.skip(f"no layout schema {tsv}")
    ref = {}
    for line in tsv.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape, _ = line.split("\t")
            ref[name] = shape
    model = factory.build(spec["arch"])
    ours = {k: str(tuple(v.shape)) for k, v in model.state_dict().items()}
    assert sorted(set(ours) ^ set(ref)) == []
    assert {k: v for k, v in ours.items() if ref[k] != v} == {}
    assert sum(p.numel() for p in model.parameters()) == spec["params"]
    assert spec["checkpoint"]["container"] == "model_key"
    assert spec["arch"]["image_size"] == spec["input"]["image_size"]


def _corrdefault_models():
    out = []
    if PARITY_DIR.is_dir():
        for p in sorted(PARITY_DIR.glob("*.npz")):
            if p.name != "inputs.npz" and "corrdefault_lowres" in np.load(p).files:
                out.append(p.stem)
    return out or ["<no fixtures>"]


@pytest.mark.slow
@pytest.mark.parametrize("model", _corrdefault_models())
def test_correction_with_default_option_is_reused(model):
    """EdgeTAM's (older, batched) predictor keeps a correction even with the default
    add_all_frames_to_correct_as_cond=False: the corrected frame becomes an ordinary recent memory
    (re-encoded from the corrected mask) and is reused, not recomputed, by the next propagation.
    Our session with that option off must give the same frames 6..9 (`corrdefault_*`, object 1
    tracked alone as in the fixture). Tolerances as in test_sam2_parity.py: low-res logits
    1e-2 + the fixture's float16 rounding, object scores 1e-3 (bfloat16 memories), masks <= 0.01%
    of pixels and only where our logit is near zero."""
    import yaml

    from annotator.engines.video import LearnedVideoSession
    from annotator.nn.factory import build
    from annotator.nn.fill import fill_model

    schema = _load(model)
    card = yaml.safe_load((CARDS_DIR / f"{model}.yaml").read_text())
    ref = np.load(PARITY_DIR / f"{model}.npz")
    key = re.search(r"\['(\w+)'\]", schema["inputs"]["video_frames"]).group(1)
    frames = np.load(PARITY_DIR / "inputs.npz")[key]
    net = build(card["arch"])
    fill_model(net, schema["fill_salt"])
    sess = LearnedVideoSession(card, net, add_all_frames_to_correct_as_cond=False, feature_cache=len(frames),
                               precision="fp32")
    sess.open(list(frames))
    oid = int(ref["corrdefault_obj_ids"][0])
    assert oid == int(ref["corr_obj_id"]) == int(ref["video_obj_ids"][0])
    sess.add_prompt(0, oid, ref["video_obj1_points"], ref["video_obj1_labels"])
    for _ in sess.propagate(0):
        pass
    c = int(ref["corr_frame_idx"])
    sess.add_prompt(c, oid, ref["corr_points"], ref["corr_labels"])
    idx = [int(f) for f in ref["corr_frame_indices"]]
    shape = ref["corrdefault_masks_shape"]
    ref_masks = np.unpackbits(ref["corrdefault_masks"], axis=-1, count=int(shape[-1])).astype(bool).reshape(shape)
    seen, worst = [], [0.0, 0.0, 0]
    for t, masks in sess.propagate(c):
        i = idx.index(t)
        seen.append(t)
        out = sess.output(t, oid)
        low = out.pred_masks[0].numpy()
        rl = ref["corrdefault_lowres"][i, 0].astype(np.float32)
        assert np.all(np.abs(low - rl) <= 1e-2 + np.abs(rl) * 2.0 ** -11), f"frame {t}: low-res logits"
        assert abs(out.score.item() - float(ref["corrdefault_object_score_logits"][i, 0, 0])) <= 1e-3
        diff = masks[oid] != ref_masks[i, 0, 0]
        worst = [max(worst[0], float(np.abs(low - rl).max())),
                 max(worst[1], abs(out.score.item() - float(ref["corrdefault_object_score_logits"][i, 0, 0]))),
                 worst[2] + int(diff.sum())]
        assert diff.sum() <= max(1, int(1e-4 * diff.size)), f"frame {t}: {diff.sum()} mask pixels differ"
        if diff.any():
            up = torch.nn.functional.interpolate(out.pred_masks, size=diff.shape, mode="bilinear", align_corners=False)
            assert float(up[0, 0].numpy()[diff].__abs__().max()) <= 0.05
    assert seen == idx
    print(f"\ncorrdefault: frames {seen}: max |lowres diff| {worst[0]:.3g}, max |score diff| {worst[1]:.3g}, "
          f"mask pixels differing {worst[2]}")
