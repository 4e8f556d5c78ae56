"""The fast paths of the SAM heads and encoders compute the same function as the plain ones."""
from __future__ import annotations

import pytest
import torch

from annotator.nn.fill import fill_model
from annotator.nn.sam_heads import MaskDecoder, PromptEncoder, _unshuffle, dense_lowrank

SAM2_KW = dict(mlp_naming="layers", pred_obj_scores=True, pred_obj_scores_mlp=True,
               use_high_res_features=True, iou_prediction_use_sigmoid=True)


def _heads(sam2: bool):
    m = torch.nn.Module()
    m.pe = PromptEncoder(box_rule="sam2" if sam2 else "sam1")
    m.md = MaskDecoder(**(SAM2_KW if sam2 else {}))
    fill_model(m, "unit-test")
    return m.pe, m.md


@pytest.mark.parametrize("sam2", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("clicks", [2, 14])  # few tokens: folded attentions; many: plain ones
def test_cached_decoder_equals_plain_forward(sam2, with_mask, clicks):
    torch.manual_seed(0)
    pe, md = _heads(sam2)
    img = torch.randn(1, 256, 64, 64)
    hr = (torch.randn(1, 32, 256, 256), torch.randn(1, 64, 128, 128)) if sam2 else None
    mask = torch.randn(1, 1, 256, 256) * 4 if with_mask else None
    pts = (torch.rand(1, clicks, 2) * 1024, torch.arange(clicks).remainder(2)[None])
    assert md.transformer.final_attn_token_to_image.folds(clicks + 7) == (clicks == 2)
    with torch.inference_mode():
        sparse, dense = pe(pts, torch.tensor([[50.0, 60.0, 900.0, 800.0]]), mask)
        plain = md(img, pe.get_dense_pe(), sparse, dense, high_res_features=hr)
        cached = md.forward_cached(md.image_cache(img, pe.get_dense_pe()), sparse, dense_lowrank(pe, mask),
                                   high_res_features=hr)
    for a, b in zip(plain, cached):
        assert torch.allclose(a, b, atol=5e-5, rtol=1e-5)
    assert plain.masks.shape == (1, 4, 256, 256)


@pytest.mark.parametrize("sam2", [False, True])
def test_gemm_upscaling_equals_transposed_convs(sam2):
    torch.manual_seed(1)
    _, md = _heads(sam2)
    src = torch.randn(1, 16 * 16, 256)
    hr = (torch.randn(1, 32, 64, 64), torch.randn(1, 64, 32, 32)) if sam2 else None
    with torch.inference_mode():
        up = md._upscale(src, 16, 16, hr)  # sub-pixel order
        img = src.transpose(1, 2).reshape(1, 256, 16, 16)
        dc1, ln1, act1, dc2, act2 = md.output_upscaling
        ref = act2(dc2(act1(ln1(dc1(img) + hr[1]))) + hr[0]) if sam2 else md.output_upscaling(img)
        hyper = torch.randn(1, 4, 32)
        ours = _unshuffle(hyper @ up.transpose(1, 2), 16, 16)
        want = (hyper @ ref.reshape(1, 32, -1)).reshape(1, 4, 64, 64)
    assert torch.allclose(ours, want, atol=1e-4, rtol=1e-5)


def test_prompt_encoder_box_rules():
    """SAM1 appends box corners after the clicks without a pad point; SAM 2 puts them first
    and always pads - the same tokens in another order."""
    pe1, _ = _heads(False)
    pe2 = PromptEncoder(box_rule="sam2")
    pe2.load_state_dict(pe1.state_dict())
    pts = (torch.tensor([[[10.0, 20.0]]]), torch.tensor([[1]]))
    box = torch.tensor([[5.0, 6.0, 70.0, 80.0]])
    with torch.no_grad():
        s1, _ = pe1(pts, box, None)
        s2, _ = pe2(pts, box, None)
        nopad, _ = pe1(pts, None, None)
    assert s1.shape[1] == 3 and s2.shape[1] == 4 and nopad.shape[1] == 2
    assert torch.allclose(s1[0, 0], s2[0, 2]) and torch.allclose(s1[0, 1:], s2[0, :2])
    assert torch.allclose(nopad[0, 1], pe1.not_a_point_embed.weight[0]) and torch.allclose(s2[0, 3], nopad[0, 1])


@pytest.mark.parametrize("encoder", ["repvit_m1", "tiny_vit"])
def test_reparameterised_encoder_keeps_outputs(encoder):
    """Folded BatchNorms, merged RepVGG branches and the fused oneDNN kernels (inference mode)
    against the module as loaded (training-free eager path, no fusion)."""
    from annotator.nn.fuse import reparameterize
    from annotator.nn.sam import build

    model = build({"family": "sam", "encoder": encoder})
    fill_model(model, "unit-test")
    enc = model.image_encoder
    x = torch.randn(1, 3, 1024, 1024) if encoder == "tiny_vit" else torch.randn(1, 3, 256, 256)
    with torch.no_grad():  # not inference mode: the plain ops run
        ref = enc(x)
    reparameterize(enc)
    with torch.inference_mode():
        fast = enc(x)
    scale = ref.abs().max()
    assert (fast - ref).abs().max() <= 2e-4 * scale
    assert not any(type(m).__name__ in ("ConvBN", "RepVggDw") for m in enc.modules())


def test_edgesam_and_timm_repvit_layouts_map_onto_each_other():
    from annotator.nn.repvit import EdgeSamRepViT, RepViTM1Timm, edgesam_key_to_timm

    timm = {k: tuple(v.shape) for k, v in RepViTM1Timm().state_dict().items()}
    edge = EdgeSamRepViT().state_dict()
    mapped = {edgesam_key_to_timm(k): tuple(v.shape) for k, v in edge.items() if edgesam_key_to_timm(k)}
    assert mapped == timm
