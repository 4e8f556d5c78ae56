"""Safe checkpoint loading, key checks and the wrong-family guess (small state dicts in tmp)."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from annotator.engines import checkpoint as ck
from annotator.engines.signatures import LAYOUTS
from annotator.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[2]


def card(name="edgesam", container="state_dict", schema=None):
    return SimpleNamespace(name=name, checkpoint={"container": container}, schema=schema or name)


def fake_state_dict(layout: str, extra: dict | None = None) -> dict:
    """Tensors with the distinctive names/shapes of one official layout (plus `extra`)."""
    sd = {k: torch.zeros(s) for k, s in LAYOUTS[layout]["present"].items()}
    sd["mask_decoder.iou_token.weight"] = torch.zeros(1, 256)
    sd.update(extra or {})
    return sd


def test_pt_and_safetensors_roundtrip(tmp_path):
    sd = {"a.weight": torch.randn(3, 4), "b.bias": torch.arange(5.0)}
    torch.save(sd, tmp_path / "w.pth")
    from safetensors.torch import save_file

    save_file(sd, str(tmp_path / "w.safetensors"))
    for name in ("w.pth", "w.safetensors"):
        got = ck.load_state_dict_file(tmp_path / name)
        assert set(got) == set(sd) and all(torch.equal(got[k], sd[k]) for k in sd)


def test_legacy_non_zip_file_loads(tmp_path):
    sd = {"a": torch.ones(2)}
    torch.save(sd, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    assert torch.equal(ck.load_state_dict_file(tmp_path / "old.pt")["a"], sd["a"])


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_file_is_one_clear_line(tmp_path, cut):
    torch.save({"a": torch.randn(200, 200)}, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CheckpointError) as e:
        ck.load_state_dict_file(tmp_path / "cut.pth")
    msg = str(e.value)
    assert "file is truncated or not a PyTorch checkpoint" in msg and "cut.pth" in msg and "\n" not in msg


@pytest.mark.parametrize("content", [b"", b"<html>404 not found</html>"])
def test_not_a_checkpoint(tmp_path, content):
    (tmp_path / "x.pth").write_bytes(content)
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        ck.load_state_dict_file(tmp_path / "x.pth")


def test_truncated_safetensors(tmp_path):
    from safetensors.torch import save_file

    save_file({"a": torch.randn(100, 100)}, str(tmp_path / "w.safetensors"))
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "w.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        ck.load_state_dict_file(tmp_path / "w.safetensors")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        ck.load_state_dict_file(tmp_path / "nope.pth")


def test_pickled_module_is_never_unpickled(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")  # like Q-TinySAM's W8A8 file
    with pytest.raises(ck.PickledModuleError, match="pickled Python objects"):
        ck.load_state_dict_file(tmp_path / "module.pth")


def test_pickled_module_container_is_refused_before_reading(tmp_path):
    (tmp_path / "tinysam_w8a8.pth").write_bytes(b"not even read")
    with pytest.raises(ck.PickledModuleError) as e:
        ck.load_checkpoint(card("tinysam_w8a8", "pickled_module", "tinysam"), tmp_path / "tinysam_w8a8.pth")
    msg = str(e.value)
    assert "cannot be loaded safely" in msg and "int8" in msg and "--precision int8" in msg


def test_unwrap_containers():
    sd = {"a": torch.zeros(1)}
    assert ck.unwrap({"model": sd, "epoch": 3}, card(container="model_key")) == sd
    assert ck.unwrap(sd, card(container="state_dict")) == sd
    # a wrapper where a plain dict was expected (or the reverse) is accepted; the key check decides
    assert ck.unwrap({"model": sd}, card(container="state_dict")) == sd
    assert ck.unwrap(sd, card(container="model_key")) == sd
    with pytest.raises(CheckpointError, match="no state dict found.*optimizer"):
        ck.unwrap({"optimizer": {"lr": 1}}, card())
    with pytest.raises(CheckpointError, match="no state dict found"):
        ck.unwrap([1, 2], card())


def test_check_keys_lists_what_differs():
    expected = {f"k{i}": (2, 2) for i in range(8)}
    got = {f"k{i}": torch.zeros(2, 2) for i in range(1, 7)}  # k0, k7 missing
    got["k3"] = torch.zeros(3, 2)
    got.update({f"extra{i}": torch.zeros(1) for i in range(6)})
    with pytest.raises(CheckpointError) as e:
        ck.check_keys(expected, got, card("mymodel"), "file.pth")
    msg = str(e.value)
    assert msg.startswith("file.pth: checkpoint does not fit model mymodel")
    assert "2 missing (k0, k7)" in msg
    assert "6 unexpected (extra0, extra1, extra2, extra3, ... 2 more)" in msg
    assert "1 with another shape (k3 file [3, 2] vs model [2, 2])" in msg
    ck.check_keys(expected, {k: torch.zeros(s) for k, s in expected.items()}, card())  # exact fit passes


def test_check_keys_names_the_likely_family():
    sd = fake_state_dict("edgetam")
    with pytest.raises(CheckpointError, match="looks like a checkpoint for edgetam"):
        ck.check_keys({"image_encoder.features.0.0.c.weight": (24, 3, 3, 3)}, sd, card("edgesam"))


def test_guess_family_on_distinctive_keys():
    assert ck.guess_family(fake_state_dict("sam_vit_b")) == "sam_vit_b"
    assert ck.guess_family(fake_state_dict("mobilesam")) == "mobilesam"
    assert ck.guess_family({"foo": torch.zeros(1)}) is None
    # SAM 2.0 and 2.1 differ by keys that only 2.1 has
    sd21 = fake_state_dict("sam2.1_hiera_tiny")
    sd20 = {k: v for k, v in sd21.items() if k != "no_obj_embed_spatial"}
    assert ck.guess_family(sd21) == "sam2.1_hiera_tiny"
    assert ck.guess_family(sd20) == "sam2_hiera_tiny"


def test_wrong_family_refused_naming_it(tmp_path):
    torch.save(fake_state_dict("mobilesam"), tmp_path / "w.pth")
    with pytest.raises(CheckpointError) as e:
        ck.load_checkpoint(card("edgesam"), tmp_path / "w.pth")
    assert "checkpoint for mobilesam / tinysam, not for edgesam" in str(e.value)
    # the same file is fine for a card sharing the layout (the key check then decides)
    assert ck.load_checkpoint(card("tinysam", schema="tinysam"), tmp_path / "w.pth")


def test_layout_of_card_covers_aliases():
    assert ck.layout_of_card(card("edgesam_3x", schema="edgesam")) == "edgesam"
    assert ck.layout_of_card(card("tinysam", schema="tinysam")) == "mobilesam"
    assert ck.layout_of_card(card("efficienttam_s_2", schema=None)) == "efficienttam_s"
    assert ck.layout_of_card(card("custom", schema="custom")) is None


def _read_tsv(p: Path) -> dict:
    out = {}
    for line in p.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape, _ = line.split("\t")
            out[name] = tuple(ast.literal_eval(shape))
    return out


def test_every_official_layout_is_recognised(parity_dir):
    """Each official layout (../shared/parity/schemas) is guessed as itself, never as another."""
    tsvs = sorted((parity_dir / "schemas").glob("*.tsv"))
    assert tsvs
    for p in tsvs:
        shapes = _read_tsv(p)
        guess = ck.guess_family(shapes)
        assert guess is not None and p.stem in LAYOUTS[guess]["names"], (p.stem, guess)
        # dropping the SAM 2.1-only keys turns a 2.1 layout into the 2.0 one of that size
        if p.stem.startswith("sam2.1_"):
            old = {k: v for k, v in shapes.items() if k not in ("no_obj_embed_spatial",)
                   and not k.startswith("obj_ptr_tpos_proj")}
            assert ck.guess_family(old) == p.stem.replace("sam2.1_", "sam2_")


def test_signature_table_matches_generator(parity_dir):
    """signatures.py is what scripts/gen_layout_signatures.py makes from the schemas."""
    spec = importlib.util.spec_from_file_location("gen_sigs", ROOT / "scripts" / "gen_layout_signatures.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    layouts = gen.load_layouts(parity_dir)
    assert set(layouts) == set(LAYOUTS)
    for name in layouts:
        sig = gen.signature(name, layouts)
        assert sig["present"] == LAYOUTS[name]["present"] and sig["absent"] == LAYOUTS[name]["absent"], name


def _smallest_buildable_card():
    from annotator.engines import registry

    cards = [c for c in registry.load_cards().values()
             if c.params and c.params < 15_000_000 and c.container != "pickled_module" and registry.is_implemented(c)]
    return min(cards, key=lambda c: c.params) if cards else None


@pytest.mark.slow
def test_load_model_strictly_with_our_modules(tmp_path):
    """Runs when annotator.nn can build a small card: a saved state dict reloads strictly,
    and the same file with a key removed / renamed is refused listing them."""
    c = _smallest_buildable_card()
    if c is None:
        pytest.skip("no small model card is implemented yet")
    model = ck.load_model(c, "random")
    sd = model.state_dict()
    good = tmp_path / "good.pth"
    torch.save({"model": sd} if c.container == "model_key" else sd, good)
    loaded = ck.load_model(c, good)
    first = next(iter(sd))
    assert torch.equal(loaded.state_dict()[first], sd[first])
    bad = dict(sd)
    bad["renamed." + first] = bad.pop(first)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=rf"1 missing \({first}\).*1 unexpected \(renamed\.{first}\)"):
        ck.load_model(c, tmp_path / "bad.pth")


def test_plain_dict_cards_work_too():
    """Engines may pass the parsed YAML (a dict) instead of a registry.Card."""
    d = {"name": "edgesam", "schema": "edgesam", "checkpoint": {"container": "model_key"}}
    with pytest.raises(CheckpointError) as e:
        ck.check_keys({"x": (1,)}, fake_state_dict("edgetam"), d)
    assert "model edgesam:" in str(e.value) and "checkpoint for edgetam" in str(e.value)
    q = {"name": "tinysam_w8a8", "checkpoint": {"container": "pickled_module"}}
    with pytest.raises(ck.PickledModuleError):
        ck.unwrap({}, q)
