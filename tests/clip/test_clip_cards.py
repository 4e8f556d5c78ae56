"""CLIP cards: parsed, buildable, never offered as segmentation engines, downloaded together
with their tokenizer files, and a clear line when the tokenizer is missing."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engines"))
from model_http_server import LocalServer  # noqa: E402

from annotator.engines import registry  # noqa: E402

CLIP_CARDS = ("clip_b16", "clip_l14", "clip_l14_336")


def test_clip_cards_are_implemented_and_not_engines():
    cards = registry.load_cards()
    for name in CLIP_CARDS:
        card = cards[name]
        assert card.kind == "clip" and registry.is_implemented(card)
        assert card.input["image_size"] in (224, 336) and card.input["dense_size"] % card.arch["vision"]["patch_size"] == 0
        assert card.urls[0].endswith("model.safetensors")
    for kind in registry.KINDS:
        assert not any(c.kind == "clip" for c in registry.learned_engines(kind))


def test_bad_extra_files_entry_is_refused(tmp_path):
    text = (Path(registry.paths.cards_dir()) / "clip_b16.yaml").read_text().replace(
        "file: clip-vocab.json", "file: ../evil.json")
    p = tmp_path / "clip_b16.yaml"
    p.write_text(text)
    with pytest.raises(registry.CardError, match="plain file name"):
        registry.parse_card(p)


def test_download_fetches_tokenizer_files_with_the_weights(monkeypatch, tmp_path):
    from annotator.engines import download as dl

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # reach 127.0.0.1 directly
    monkeypatch.setenv("no_proxy", "")
    body = b"tokenizer-and-weights" * 100
    srv = LocalServer(body)
    try:
        card = registry.get_card("clip_b16")
        ck = dict(card.checkpoint, urls=[srv.url], sha256=hashlib.sha256(body).hexdigest(),
                  extra_files=[dict(e, url=srv.url) for e in card.extra_files])
        card = registry.Card(**{**card.__dict__, "checkpoint": ck})
        assert registry.missing_extra_files(card) == ["clip-vocab.json", "clip-merges.txt"]
        path = dl.download_card(card)
        assert path.read_bytes() == body
        assert registry.missing_extra_files(card) == []
        assert len(srv.state.requests) == 3
    finally:
        srv.close()


def test_missing_tokenizer_is_one_clear_error(tmp_path):
    from annotator.engines.clip_model import load_clip
    from annotator.errors import ModelNotAvailableError

    with pytest.raises(ModelNotAvailableError, match=r"clip-vocab.json.*annotator models download clip_b16"):
        load_clip("clip_b16", tmp_path / "clip.safetensors")


def test_models_import_checks_a_clip_file_in_either_layout(monkeypatch, tmp_path, small_clip, clip_vocab, capsys):
    """`annotator models import` accepts an OpenAI-layout file with derived position ids (same
    model, converted on load) and refuses one with a missing tensor, naming it."""
    import clip_synth
    import torch
    from safetensors.torch import save_file
    from test_clip_parity import _to_openai_names

    from annotator.cli import main

    clip_synth.install_small_clip(monkeypatch, tmp_path, small_clip, *clip_vocab)
    sd = small_clip.model.state_dict()
    oa = _to_openai_names(sd)
    oa["text_model.embeddings.position_ids"] = torch.arange(77)[None]
    good = tmp_path / "dl" / "openai_small.safetensors"
    good.parent.mkdir()
    save_file({k: v.contiguous() for k, v in oa.items()}, str(good))
    assert main(["models", "import", "clip_small", str(good)]) == 0
    assert "keys ok" in capsys.readouterr().out
    del oa["visual.proj"]
    bad = tmp_path / "dl" / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in oa.items()}, str(bad))
    assert main(["models", "import", "clip_small", str(bad)]) == 2
    assert "visual_projection" in capsys.readouterr().err
