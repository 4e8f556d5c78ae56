"""Model cards in models/ and the registry over them (engine choice, sessions by name)."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from annotator import paths
from annotator.engines import registry
from annotator.errors import CheckpointError, ModelNotAvailableError

CARD_FILES = registry.card_files()

# Every released variant that ../shared/docs/MODELS.md names and that has a checkpoint
# (EdgeSAM-10x is announced there as "TBA": no file exists, so no card).
EXPECTED = {
    "sam_vit_b", "sam_vit_l", "sam_vit_h", "mobilesam", "tinysam", "tinysam_w8a8", "edgesam", "edgesam_3x",
    "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large",
    "sam2_hiera_tiny", "sam2_hiera_small", "sam2_hiera_base_plus", "sam2_hiera_large",
    "efficienttam_ti", "efficienttam_ti_1", "efficienttam_ti_2", "efficienttam_ti_512x512",
    "efficienttam_s", "efficienttam_s_1", "efficienttam_s_2", "efficienttam_s_512x512", "edgetam",
}


def test_cards_exist_for_every_named_variant():
    names = {p.stem for p in CARD_FILES}
    assert not EXPECTED - names, f"cards missing: {sorted(EXPECTED - names)}"


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda p: p.stem)
def test_card_parses_strictly(path):
    card = registry.parse_card(path)
    assert card.name == path.stem
    if card.kind == "clip":  # image-text model (tests/clip/test_clip_cards.py checks the rest)
        assert card.family == "clip" and not card.segments_kind("image")
        assert {e["role"] for e in card.extra_files} == {"vocab", "merges"}
        return
    assert card.kind in registry.KINDS
    assert card.family in ("sam", "sam2")
    assert card.input["image_size"] in (512, 1024)
    assert card.input["resize"] in ("longest_side", "squash")
    assert len(card.input["pixel_mean"]) == 3 and len(card.input["pixel_std"]) == 3
    assert card.input.get("pixel_scale") in (1, 255)
    # squash resize goes with 0-1 ImageNet normalisation (SAM2 family), longest side with 0-255
    assert (card.input["resize"] == "squash") == (card.input["pixel_scale"] == 1)
    assert card.urls and all(u.startswith("https://") for u in card.urls)
    assert card.file and "/" not in card.file
    assert card.container in registry.CONTAINERS
    assert card.licence["name"] and isinstance(card.commercial, bool)
    assert card.params is None or card.params > 1_000_000
    if card.size:
        assert card.size > 1_000_000


def test_card_names_and_files_unique():
    cards = [registry.parse_card(p) for p in CARD_FILES]
    names = [c.name for c in cards]
    files = [c.file for c in cards]
    assert len(set(names)) == len(names)
    assert len(set(files)) == len(files), "two cards would install over each other's checkpoint"
    assert set(registry.load_cards()) == set(names)  # nothing silently skipped


def test_licences_follow_the_docs():
    cards = registry.load_cards()
    for name in ("edgesam", "edgesam_3x"):
        if name in cards:
            assert cards[name].commercial is False  # NTU S-Lab 1.0: shown before download
    for name, card in cards.items():
        if not name.startswith("edgesam"):
            assert card.commercial is True, name


def test_sam2_cards_use_the_model_wrapper_and_sam1_plain():
    for card in registry.load_cards().values():
        if card.container == "pickled_module":
            continue
        assert card.container == ("model_key" if card.family == "sam2" else "state_dict"), card.name


def test_published_sha256_values_from_the_docs():
    """The sha256 of every card agrees with ../shared/docs/MODELS.md wherever the doc gives one."""
    doc = Path(__file__).resolve().parents[2].parent / "shared" / "docs" / "MODELS.md"
    if not doc.is_file():
        pytest.skip("MODELS.md not found")
    published = set(re.findall(r"\b[0-9a-f]{64}\b", doc.read_text()))
    for card in registry.load_cards().values():
        if card.sha256:
            assert card.sha256 in published, card.name


def write_card(folder: Path, name: str, family: str = "sam", encoder: str = "vit", container: str = "state_dict",
               kind: str = "image", file: str | None = None, **extra) -> Path:
    text = textwrap.dedent(f"""\
        name: {name}
        title: {name.title()}
        kind: {kind}
        arch: {{family: {family}, encoder: {encoder}}}
        input: {{image_size: 1024, resize: longest_side, pixel_mean: [0, 0, 0], pixel_std: [1, 1, 1], pixel_scale: 255}}
        checkpoint:
          file: {file or name + '.pth'}
          urls: [https://example.invalid/{name}.pth]
          sha256: null
          size: null
          container: {container}
        licence: {{name: Test, commercial: true}}
        schema: null
        params: null
        """)
    for k, v in extra.items():
        text = text.replace(f"{k}: null", f"{k}: {v}")
    p = folder / f"{name}.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("change,message", [
    (("name: bad", "name: other"), "differs from the file name"),
    (("kind: image", "kind: audio"), "kind must be"),
    (("  file: bad.pth", "  file: ../bad.pth"), "plain file name"),
    (("sha256: null", "sha256: ABC"), "64 lowercase hex"),
    (("container: state_dict", "container: pickle"), "container must be"),
    (("licence: {name: Test, commercial: true}", "licence: {name: Test}"), "commercial"),
    (("urls: [https://example.invalid/bad.pth]", "urls: [ftp://x]"), "http"),
])
def test_malformed_cards_are_refused(tmp_path, change, message):
    p = write_card(tmp_path, "bad")
    p.write_text(p.read_text().replace(*change))
    with pytest.raises(registry.CardError, match=message):
        registry.parse_card(p)
    assert registry.load_cards(tmp_path) == {}  # skipped (and logged), not fatal


def test_unknown_name_lists_close_ones():
    with pytest.raises(ModelNotAvailableError, match="did you mean.*sam2_hiera_tiny"):
        registry.get_card("sam2_hiera_tiy")
    with pytest.raises(ModelNotAvailableError, match="models list"):
        registry.get_card("zzzz")


def test_unimplemented_architectures_say_so(tmp_path, monkeypatch):
    write_card(tmp_path, "futurenet", family="transformer9000")
    write_card(tmp_path, "oddsam", family="sam", encoder="no_such_encoder")
    monkeypatch.setattr(paths, "cards_dir", lambda: tmp_path)
    assert registry.not_implemented_reason(registry.get_card("futurenet")) == "not implemented yet"
    assert registry.not_implemented_reason(registry.get_card("oddsam")) == "not implemented yet"
    (paths.models_dir() / "futurenet.pth").write_bytes(b"x")
    assert registry.engine_names("image") == ["classic"]  # installed but not buildable: not offered
    with pytest.raises(ModelNotAvailableError, match="futurenet: not implemented yet"):
        registry.create_image_session("futurenet")


def test_q_tinysam_is_listed_as_unsafe():
    card = registry.get_card("tinysam_w8a8")
    assert card.container == "pickled_module"
    assert "cannot be loaded safely" in registry.not_implemented_reason(card)
    with pytest.raises(ModelNotAvailableError, match="cannot be loaded safely"):
        registry.create_image_session("tinysam_w8a8")


def _implemented(kind: str) -> list[registry.Card]:
    return [c for c in registry.load_cards().values() if c.segments_kind(kind) and registry.is_implemented(c)]


def test_engine_choice_classic_until_a_checkpoint_is_installed():
    assert registry.engine_names("image") == ["classic"]
    assert registry.engine_names("video") == ["classic"]
    assert registry.default_engine_name("image") == "classic"
    assert "no learned checkpoint is installed" in registry.describe_engine_choice("image")
    video = [c for c in _implemented("video")]
    if not video:
        pytest.skip("no video architecture implemented yet")
    big = max(video, key=lambda c: c.params or 0)
    small = min(video, key=lambda c: registry._rank(c, "video"))
    # Only presence matters for the choice; loading is checked when the session starts.
    (paths.models_dir() / big.file).write_bytes(b"placeholder")
    assert registry.default_engine_name("video") == big.name
    assert registry.engine_names("video") == ["classic", big.name]
    assert big.name in registry.engine_names("image")  # video models also segment images
    assert big.name in registry.describe_engine_choice("video")
    if small.name != big.name:
        (paths.models_dir() / small.file).write_bytes(b"placeholder")
        assert registry.default_engine_name("video") == small.name
        assert registry.engine_names("video")[:2] == ["classic", small.name]


def test_image_models_are_not_video_engines():
    image_cards = [c for c in _implemented("image") if c.kind == "image"]
    if not image_cards:
        pytest.skip("no image architecture implemented yet")
    c = image_cards[0]
    (paths.models_dir() / c.file).write_bytes(b"placeholder")
    assert c.name in registry.engine_names("image")
    assert c.name not in registry.engine_names("video")
    with pytest.raises(ModelNotAvailableError, match="cannot propagate"):
        registry.create_video_session(c.name)


def test_missing_checkpoint_says_how_to_get_it():
    cards = _implemented("image")
    if not cards:
        pytest.skip("no architecture implemented yet")
    c = cards[0]
    with pytest.raises(ModelNotAvailableError) as e:
        registry.create_image_session(c.name)
    assert f"annotator models download {c.name}" in str(e.value) and "models import" in str(e.value)
    with pytest.raises(CheckpointError, match="not found"):
        registry.create_image_session(c.name, weights="/nonexistent/file.pth")


def test_resolve_weights():
    card = registry.get_card("sam_vit_b")
    assert registry.resolve_weights(card, "random") == "random"
    assert registry.installed_path(card) is None
    p = paths.models_dir() / card.file
    p.write_bytes(b"x")
    assert registry.installed_path(card) == p == registry.resolve_weights(card)


def test_converted_safetensors_counts_as_installed():
    card = registry.get_card("mobilesam")
    p = paths.models_dir() / (Path(card.file).stem + ".safetensors")
    p.write_bytes(b"x")
    assert registry.installed_path(card) == p


def test_classic_sessions_by_name():
    pytest.importorskip("annotator.engines.classic")
    s = registry.create_image_session("classic")
    assert hasattr(s, "predict") and hasattr(s, "set_image")
    v = registry.create_video_session("classic")
    assert hasattr(v, "propagate")
    with pytest.raises(ModelNotAvailableError):
        registry.create_image_session("flow-warp")


@pytest.mark.slow
def test_installed_checkpoint_becomes_the_default_engine(tmp_path):
    """End to end: a checkpoint saved into the models folder is picked up as the default image
    engine, and the session it creates loads that file and segments."""
    import numpy as np
    import torch

    from annotator.engines import checkpoint as ck

    cards = [c for c in _implemented("image") if c.kind == "image" and c.container == "state_dict"
             and c.params and c.params < 12_000_000]
    if not cards:
        pytest.skip("no small image architecture implemented yet")
    card = min(cards, key=lambda c: registry._rank(c, "image"))
    model = ck.load_model(card, "random")
    torch.save(model.state_dict(), paths.models_dir() / card.file)
    assert registry.default_engine_name("image") == card.name
    session = registry.create_image_session(registry.default_engine_name("image"))
    rgb = (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)
    session.set_image(rgb)
    pred = session.predict(points=np.array([[80.0, 60.0]]), labels=np.array([1]))
    assert pred.masks.shape[1:] == (120, 160) and pred.masks.dtype == bool


def test_preference_is_card_data_with_distinct_ranks():
    cards = registry.load_cards()
    for kind in registry.KINDS:
        ranked = sorted((c.preference[kind], c.name) for c in cards.values() if kind in c.preference)
        assert len({r for r, _ in ranked}) == len(ranked), ranked  # no two cards share a rank
        assert all(cards[n].segments_kind(kind) for _, n in ranked)
    assert min(cards.values(), key=lambda c: registry._rank(c, "video")).name == "edgetam"
    assert min(cards.values(), key=lambda c: registry._rank(c, "image")).name == "edgesam_3x"
    # a card without a rank follows every ranked one
    assert registry._rank(cards["sam2_hiera_tiny"], "video") > registry._rank(cards["sam2.1_hiera_large"], "video")


def test_preference_field_is_checked(tmp_path):
    text = (registry.paths.cards_dir() / "edgesam.yaml").read_text()
    for bad in ("preference: {image: 0}", "preference: {video: 1}", "preference: [1]", "preference: {image: yes}"):
        p = tmp_path / "edgesam.yaml"
        p.write_text(text.replace("preference: {image: 2}", bad))
        with pytest.raises(registry.CardError, match="preference"):
            registry.parse_card(p)


@pytest.mark.parametrize("size", ["tiny", "small", "base_plus", "large"])
def test_sam2_0_cards_are_sam2_1_minus_its_additions(size, parity_dir):
    """SAM 2.0 = SAM 2.1 of the same size without no_obj_embed_spatial / obj_ptr_tpos_proj
    (MODELS.md 5.1); tiny is also compared with the official 2.0 layout dump."""
    import torch

    from annotator.engines.checkpoint import expected_shapes

    old, new = registry.get_card(f"sam2_hiera_{size}"), registry.get_card(f"sam2.1_hiera_{size}")
    if not (registry.is_implemented(old) and registry.is_implemented(new)):
        pytest.skip("SAM 2 family not implemented yet")
    a, b = expected_shapes(old), expected_shapes(new)
    assert set(b) - set(a) == {"no_obj_embed_spatial", "obj_ptr_tpos_proj.weight", "obj_ptr_tpos_proj.bias"}
    assert set(a) <= set(b) and all(a[k] == b[k] for k in a)
    assert old.params == new.params - 64 * 256 - 64 - 64
    tsv = parity_dir / "schemas" / f"sam2_hiera_{size}.tsv"
    if tsv.is_file():
        rows = [line.split("\t") for line in tsv.read_text().splitlines() if line and not line.startswith("#")]
        assert {r[0]: tuple(int(d) for d in r[1].strip("()").split(",") if d.strip()) for r in rows} == a
    from annotator.nn import factory

    with torch.device("meta"):
        model = factory.build(dict(old.arch))
    assert sum(p.numel() for p in model.parameters()) == old.params
