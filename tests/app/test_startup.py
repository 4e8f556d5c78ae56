"""malloc tuning is the app's start-up step, not a side effect of building a model."""
from __future__ import annotations

import yaml

from annotator import cli, paths
from annotator.nn import allocator, factory


def test_building_a_model_leaves_the_allocator_alone(monkeypatch):
    import torch

    calls = []
    monkeypatch.setattr(allocator, "tune_for_inference", lambda: calls.append(1) or True)
    arch = yaml.safe_load((paths.cards_dir() / "edgesam.yaml").read_text())["arch"]
    with torch.device("meta"):
        factory.build(dict(arch))
    assert calls == []


def test_the_cli_tunes_at_start_up(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(allocator, "tune_for_inference", lambda: calls.append(1) or True)
    assert cli.main(["models", "list", "--json"]) == 0
    assert calls == [1]
