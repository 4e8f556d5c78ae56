"""Our CLIP (annotator.nn.clip + engines.clip_model) against the reference implementation,
transformers' CLIPModel / CLIPImageProcessorPil, under the parity fill (salt from PARITY_SALT,
default "shared-v2"; no CLIP fixture exists, the reference runs here).

Small towers (2-3 layers, widths 48-64) keep it fast; the real B/16, L/14 and L/14-336 layouts
are checked name for name and shape for shape against the reference built on the meta device.
Tolerances: both run float32 on the same thread count; the attention kernels differ (ours SDPA,
the reference's per its default), measured max differences are ~1e-6 on values of order 1, so
atol 1e-4 leaves a wide margin while any wiring error shows as O(1).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import clip_synth

transformers = pytest.importorskip("transformers", reason="the reference CLIP is the clip-reference test extra")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SALT = os.environ.get("PARITY_SALT", "shared-v2")
ATOL = 1e-4
PROMPTS = ["a photo of a truck.", "a photo of groceries", "a dog", "", "Crème brûlée, 3 ways!",
           "the the the " * 40, "two cars and one bicycle on the road"]


def reference_config(arch: dict, start_id: int = 0):
    v, t = arch["vision"], arch["text"]
    return transformers.CLIPConfig(
        text_config=dict(hidden_size=t["width"], intermediate_size=4 * t["width"], num_hidden_layers=t["layers"],
                         num_attention_heads=t["heads"], vocab_size=t["vocab_size"],
                         max_position_embeddings=t["context_length"], hidden_act=arch["act"],
                         eos_token_id=t["end_id"], bos_token_id=start_id, pad_token_id=t["end_id"]),
        vision_config=dict(hidden_size=v["width"], intermediate_size=4 * v["width"], num_hidden_layers=v["layers"],
                           num_attention_heads=v["heads"], image_size=v["image_size"], patch_size=v["patch_size"],
                           hidden_act=arch["act"]),
        projection_dim=arch["embed_dim"])


@pytest.fixture(scope="module")
def pair(clip_vocab):
    """(our ClipModel, reference CLIPModel, reference tokenizer) with the same filled weights."""
    from annotator.engines.clip_model import load_clip
    from annotator.engines.clip_tokenizer import ClipTokenizer
    from annotator.nn.fill import fill_model

    vocab, merges = clip_vocab
    tok = ClipTokenizer(vocab, merges)
    arch = clip_synth.small_arch(tok.vocab_size, tok.end_id)
    torch.manual_seed(0)
    ref = transformers.CLIPModel(reference_config(arch, tok.start_id)).eval()
    filled = fill_model(ref, SALT)
    ours = load_clip(clip_synth.small_card(arch), filled, vocab, merges)
    return ours, ref, transformers.CLIPTokenizer.from_pretrained(str(vocab.parent))


def test_layout_equals_reference_and_loads_strictly(pair):
    ours, ref, _ = pair
    a = {k: tuple(v.shape) for k, v in ours.model.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert a == b


@pytest.mark.parametrize("card_name", ["clip_b16", "clip_l14", "clip_l14_336"])
def test_real_size_layout_equals_reference(card_name):
    from annotator.engines.registry import get_card
    from annotator.nn.clip import build

    card = get_card(card_name)
    with torch.device("meta"):
        ours = build(dict(card.arch))
        ref = transformers.CLIPModel(reference_config(card.arch, 49406))
    a = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert a == b
    assert sum(int(np.prod(s)) for s in a.values()) == card.params


def test_preprocessing_equals_reference(clip_photos):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from annotator.engines.clip_model import crop_view

    proc = CLIPImageProcessorPil()
    card = clip_synth.small_card(clip_synth.small_arch(10, 9))
    from annotator.engines.clip_model import ClipModel

    cm = ClipModel(card, None, None, "x")
    assert len(clip_photos) >= 2
    for rgb in clip_photos:
        want = proc(images=rgb, return_tensors="np")["pixel_values"]
        got = cm.pixels([crop_view(rgb, 224)]).numpy()
        assert got.shape == want.shape == (1, 3, 224, 224)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_towers_and_logits_equal_reference(pair, clip_photos):
    from annotator.engines.clip_model import crop_view

    ours, ref, ref_tok = pair
    ids = ours.tokenizer.encode(PROMPTS)
    ref_ids = ref_tok(PROMPTS, padding="max_length", truncation=True, max_length=77, return_tensors="pt")["input_ids"]
    np.testing.assert_array_equal(ids, ref_ids.numpy())
    px = ours.pixels([crop_view(p, 224) for p in clip_photos])
    with torch.inference_mode():
        r = ref(input_ids=ref_ids, pixel_values=px)
        img = ours.model.encode_image(px)
        txt = ours.model.encode_text(torch.from_numpy(ids))
        per_image, per_text = ours.model.logits(px, torch.from_numpy(ids))
        ref_img = ref.get_image_features(pixel_values=px).pooler_output
        ref_txt = ref.get_text_features(input_ids=ref_ids).pooler_output
        short = ours.model.encode_text(torch.from_numpy(ids[:3]))  # computed up to the last end token only
    assert int(ours.tokenizer.end_positions(ids[:3]).max()) < 20
    torch.testing.assert_close(short, ref_txt[:3], atol=ATOL, rtol=0)
    assert img.shape == (len(clip_photos), 32) and txt.shape == (len(PROMPTS), 32)
    for got, want in ((img, ref_img), (txt, ref_txt), (per_image, r.logits_per_image), (per_text, r.logits_per_text)):
        assert float(want.abs().max()) > 0.05  # not trivially zero
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    assert float(per_image.std()) > 1e-3  # the images and prompts are told apart


def test_dense_path_and_resized_positions_match_reference_modules(pair, clip_photos):
    """Dense features at a non-square, non-trained size: the reference's hidden state before the
    last layer (with its bicubic position resize) pushed through the reference's own last-layer
    modules along MaskCLIP's value path equals ours."""
    from annotator.engines.clip_model import dense_view

    ours, ref, _ = pair
    view = dense_view(clip_photos[0], 96, ours.patch)
    assert view.shape[0] != view.shape[1] and view.shape[0] % 16 == 0 and view.shape[1] % 16 == 0
    px = ours.pixels([view])
    with torch.inference_mode():
        feats, keys = ours.model.dense(px)
        flat, _ = ours.model.dense(px, residual=False)
        out = ref.vision_model(pixel_values=px, interpolate_pos_encoding=True, output_hidden_states=True)
        x = out.hidden_states[-2]
        last = ref.vision_model.encoder.layers[-1]
        y = last.layer_norm1(x)
        v = last.self_attn.out_proj(last.self_attn.v_proj(y))
        z = x + v
        z = z + last.mlp(last.layer_norm2(z))
        want = ref.visual_projection(ref.vision_model.post_layernorm(z[:, 1:]))
        want_flat = ref.visual_projection(ref.vision_model.post_layernorm(v[:, 1:]))
        want_keys = last.self_attn.k_proj(y)[:, 1:]
        ours_tokens, _ = ours.model.vision_model.tokens(px)
    gh, gw = view.shape[0] // 16, view.shape[1] // 16
    assert feats.shape == (1, gh, gw, 32) and keys.shape == (1, gh * gw, 64)
    torch.testing.assert_close(ours_tokens, out.last_hidden_state, atol=ATOL, rtol=0)
    torch.testing.assert_close(feats.reshape(1, gh * gw, 32), want, atol=ATOL, rtol=0)
    torch.testing.assert_close(flat.reshape(1, gh * gw, 32), want_flat, atol=ATOL, rtol=0)
    torch.testing.assert_close(keys, want_keys, atol=ATOL, rtol=0)


def test_checkpoint_file_loads_strictly_and_refuses_wrong_layout(pair, clip_vocab, tmp_path):
    from safetensors.torch import save_file

    from annotator.engines.clip_model import load_clip
    from annotator.errors import CheckpointError

    ours, _, _ = pair
    vocab, merges = clip_vocab
    sd = {k: v.clone().contiguous() for k, v in ours.model.state_dict().items()}
    sd["text_model.embeddings.position_ids"] = torch.arange(77)[None]  # older exports carry it
    f = tmp_path / "clip.safetensors"
    save_file(sd, str(f))
    again = load_clip(ours.card, f, vocab, merges)
    for k, v in ours.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[k], v), k
    del sd["visual_projection.weight"]
    save_file(sd, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError, match="visual_projection"):
        load_clip(ours.card, tmp_path / "bad.safetensors", vocab, merges)


def _to_openai_names(sd: dict) -> dict:
    """Our (HF) state dict under OpenAI's names, written out from OpenAI's model definition:
    in_proj = [q; k; v], projections stored [width, embed], ln_1/ln_2, mlp.c_fc/c_proj."""
    out = {"input_resolution": torch.tensor(224), "context_length": torch.tensor(77)}
    top = {"text_model.embeddings.token_embedding.weight": "token_embedding.weight",
           "text_model.embeddings.position_embedding.weight": "positional_embedding",
           "text_model.final_layer_norm.weight": "ln_final.weight", "text_model.final_layer_norm.bias": "ln_final.bias",
           "logit_scale": "logit_scale", "vision_model.embeddings.class_embedding": "visual.class_embedding",
           "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
           "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
           "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight", "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
           "vision_model.post_layernorm.weight": "visual.ln_post.weight",
           "vision_model.post_layernorm.bias": "visual.ln_post.bias"}
    for k, v in top.items():
        out[v] = sd[k]
    out["visual.proj"] = sd["visual_projection.weight"].t().contiguous()
    out["text_projection"] = sd["text_projection.weight"].t().contiguous()
    for tower, pre in (("vision_model", "visual.transformer"), ("text_model", "transformer")):
        i = 0
        while f"{tower}.encoder.layers.{i}.layer_norm1.weight" in sd:
            a, b = f"{tower}.encoder.layers.{i}.", f"{pre}.resblocks.{i}."
            for kind in ("weight", "bias"):
                out[b + f"attn.in_proj_{kind}"] = torch.cat([sd[a + f"self_attn.{p}.{kind}"] for p in ("q_proj", "k_proj", "v_proj")])
                out[b + f"attn.out_proj.{kind}"] = sd[a + f"self_attn.out_proj.{kind}"]
                out[b + f"ln_1.{kind}"] = sd[a + f"layer_norm1.{kind}"]
                out[b + f"ln_2.{kind}"] = sd[a + f"layer_norm2.{kind}"]
                out[b + f"mlp.c_fc.{kind}"] = sd[a + f"mlp.fc1.{kind}"]
                out[b + f"mlp.c_proj.{kind}"] = sd[a + f"mlp.fc2.{kind}"]
            i += 1
    return out


def test_openai_layout_file_loads_as_the_same_model(pair, clip_vocab, tmp_path):
    from safetensors.torch import save_file

    from annotator.engines.clip_model import load_clip

    ours, _, _ = pair
    sd = ours.model.state_dict()
    oa = _to_openai_names(sd)
    assert not set(oa) & set(sd) - {"logit_scale"}
    save_file({k: v.contiguous() for k, v in oa.items()}, str(tmp_path / "openai.safetensors"))
    again = load_clip(ours.card, tmp_path / "openai.safetensors", *clip_vocab)
    for k, v in sd.items():
        assert torch.equal(again.model.state_dict()[k], v), k


@pytest.mark.slow
def test_real_size_b16_equals_reference(clip_photos):
    """ViT-B/16 at full size (150M parameters, filled): embeddings and logits equal the reference."""
    from annotator.engines.clip_model import ClipModel, crop_view
    from annotator.engines.clip_tokenizer import ClipTokenizer
    from annotator.engines.registry import get_card
    from annotator.nn.clip import build
    from annotator.nn.fill import fill_model

    card = get_card("clip_b16")
    ref = transformers.CLIPModel(reference_config(card.arch, 49406)).eval()
    filled = fill_model(ref, SALT)
    ours = build(dict(card.arch))
    ours.load_state_dict(filled, strict=True)
    ours.eval()
    del filled
    tok = ClipTokenizer.bytes_only(49407)  # the real vocabulary cannot be downloaded here
    ids = torch.from_numpy(tok.encode(["a photo of a truck.", "groceries on a table"]))
    px = ClipModel(card, ours, tok, "x").pixels([crop_view(clip_photos[0], 224)])
    with torch.inference_mode():
        r = ref(input_ids=ids, pixel_values=px)
        li, _ = ours.logits(px, ids)
        img = ours.encode_image(px)
        want = ref.get_image_features(pixel_values=px).pooler_output
    torch.testing.assert_close(img, want, atol=ATOL, rtol=0)
    torch.testing.assert_close(li, r.logits_per_image, atol=ATOL, rtol=0)
