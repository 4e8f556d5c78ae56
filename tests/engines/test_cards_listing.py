"""The model list answers "implemented?" for every card without importing torch (it used to
build each model on the meta device: seconds before the model manager showed anything), and
that torch-free answer agrees with what the builders really make."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_model_rows_import_no_torch(tmp_path):
    code = ("import sys; from annotator.app import models; rows = models.rows(); "
            "print(len(rows), sum(r.implemented for r in rows), 'torch' in sys.modules)")
    env = dict(os.environ, ANNOTATOR_HOME=str(tmp_path))  # no cached answers
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    n, implemented, torch_loaded = out.stdout.split()
    from annotator.engines import registry

    cards = registry.load_cards()
    assert int(n) == len(cards)
    # every shipped card but the pickled-module one is implemented
    assert int(implemented) == sum(c.container != "pickled_module" for c in cards.values())
    assert torch_loaded == "False"


def test_torch_free_answer_matches_the_builders():
    torch = pytest.importorskip("torch")
    from annotator.engines import registry
    from annotator.nn import factory

    seen = set()
    for card in registry.load_cards().values():
        arch = dict(card.arch)
        enc = (card.family, arch.get("encoder"))
        if card.family == "clip" or enc in seen:
            continue
        seen.add(enc)
        assert factory.supports(arch) is True
        with torch.device("meta"):
            factory.build(arch)  # what the list calls implemented really builds
        bad = dict(arch, encoder="no_such_encoder")
        assert factory.supports(bad) is False
        with pytest.raises(KeyError):
            factory.build(bad)
    assert {e for f, e in seen} >= {"tiny_vit", "repvit_m1", "vit", "hiera", "vitdet", "repvit_m1_timm"}
    vit = dict(registry.get_card("sam_vit_b").arch)
    vit.pop("size", None)
    assert factory.supports(vit) is False  # a ViT of unknown size and no dimensions
