"""`annotator models list|download|import|verify` through annotator.cli.main."""
from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest
import torch

from annotator import paths
from annotator.cli import main
from annotator.engines import registry
from annotator.engines.signatures import LAYOUTS
from model_http_server import LocalServer


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_list_shows_every_card(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in registry.load_cards():
        assert name in out
    assert "models folder:" in out and "classic image engine" in out
    assert "unsafe file" in out  # Q-TinySAM
    assert "non-commercial" in out.lower()  # EdgeSAM's licence is visible


def test_list_json_reports_installed_files(capsys):
    card = registry.get_card("sam_vit_b")
    (paths.models_dir() / card.file).write_bytes(b"abc")
    assert main(["models", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = next(r for r in data["models"] if r["name"] == "sam_vit_b")
    assert row["installed"] is True and row["size"] == 3 and row["path"].endswith(card.file)
    assert data["models_dir"] == str(paths.models_dir())


@pytest.fixture
def test_cards(tmp_path, monkeypatch):
    """A cards folder holding two small test models (their architecture does not exist)."""
    folder = tmp_path / "cards"
    folder.mkdir()
    monkeypatch.setattr(paths, "cards_dir", lambda: folder)
    return folder


def write_card(folder: Path, name: str, sha256: str | None, url: str = "https://example.invalid/x.pth",
               commercial: bool = True, schema: str | None = None) -> None:
    (folder / f"{name}.yaml").write_text(textwrap.dedent(f"""\
        name: {name}
        title: {name}
        kind: image
        arch: {{family: not_a_family}}
        input: {{image_size: 1024, resize: longest_side, pixel_mean: [0, 0, 0], pixel_std: [1, 1, 1], pixel_scale: 255}}
        checkpoint: {{file: {name}.pth, urls: [{url}], sha256: {repr(sha256) if sha256 else 'null'}, size: null, container: state_dict}}
        licence: {{name: Test NC, commercial: {str(commercial).lower()}}}
        schema: {schema or 'null'}
        params: null
        """))


def make_checkpoint(path: Path, layout: str | None = None) -> Path:
    sd = {"a.weight": torch.randn(4, 4)}
    if layout:
        sd.update({k: torch.zeros(s) for k, s in LAYOUTS[layout]["present"].items()})
    torch.save(sd, path)
    return path


def test_import_then_verify(test_cards, tmp_path, capsys):
    f = make_checkpoint(tmp_path / "downloaded.pth")
    write_card(test_cards, "known", sha(f))
    assert main(["models", "import", "known", str(f)]) == 0
    out = capsys.readouterr().out
    dest = paths.models_dir() / "known.pth"
    assert dest.read_bytes() == f.read_bytes()
    assert "sha256 ok" in out and "keys not checked" in out
    assert main(["models", "verify", "known"]) == 0
    assert "OK" in capsys.readouterr().out
    # a file damaged after installation is reported
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    assert main(["models", "verify"]) == 2
    assert "MISMATCH" in capsys.readouterr().err


def test_import_without_published_sha_warns_but_installs(test_cards, tmp_path, capsys):
    f = make_checkpoint(tmp_path / "x.pth")
    write_card(test_cards, "nosha", None)
    assert main(["models", "import", "nosha", str(f)]) == 0
    captured = capsys.readouterr()
    assert "no published sha256" in captured.err and sha(f) in captured.err
    assert (paths.models_dir() / "nosha.pth").is_file()
    assert main(["models", "verify", "nosha"]) == 0
    assert "no published sha256" in capsys.readouterr().out


def test_import_checksum_mismatch_refused(test_cards, tmp_path, capsys):
    f = make_checkpoint(tmp_path / "x.pth")
    write_card(test_cards, "known", "0" * 64)
    assert main(["models", "import", "known", str(f)]) == 2
    assert "is not the published known checkpoint" in capsys.readouterr().err
    assert not (paths.models_dir() / "known.pth").exists()
    assert main(["models", "import", "known", str(f), "--allow-checksum-mismatch"]) == 0
    assert (paths.models_dir() / "known.pth").is_file()


def test_import_refuses_truncated_file(test_cards, tmp_path, capsys):
    f = make_checkpoint(tmp_path / "x.pth")
    f.write_bytes(f.read_bytes()[:300])
    write_card(test_cards, "nosha", None)
    assert main(["models", "import", "nosha", str(f)]) == 2
    err = capsys.readouterr().err
    assert "file is truncated or not a PyTorch checkpoint" in err and err.count("\n") == 1 + err.count("warning")
    assert not (paths.models_dir() / "nosha.pth").exists()


def test_import_refuses_other_family_even_before_the_architecture_exists(test_cards, tmp_path, capsys):
    f = make_checkpoint(tmp_path / "x.pth", layout="edgetam")
    write_card(test_cards, "myedgesam", None, schema="edgesam")
    assert main(["models", "import", "myedgesam", str(f)]) == 2
    assert "checkpoint for edgetam, not for myedgesam" in capsys.readouterr().err
    assert not (paths.models_dir() / "myedgesam.pth").exists()


def test_import_refuses_pickled_module(tmp_path, capsys):
    f = tmp_path / "tinysam_w8a8.pth"
    torch.save(torch.nn.Linear(2, 2), f)
    assert main(["models", "import", "tinysam_w8a8", str(f)]) == 2
    assert "cannot be loaded safely" in capsys.readouterr().err


def test_import_real_card_checks_every_key(tmp_path, capsys):
    """With our architecture implemented, import compares every key and shape."""
    cards = [c for c in registry.load_cards().values()
             if c.family == "sam" and c.container == "state_dict" and registry.is_implemented(c)
             and c.params and c.params < 12_000_000]
    if not cards:
        pytest.skip("no small SAM-family architecture implemented yet")
    card = cards[0]
    shapes = {k: s for k, s in __import__("annotator.engines.checkpoint", fromlist=["x"]).expected_shapes(card).items()}
    sd = {k: torch.zeros(s) for k, s in shapes.items()}
    first = next(iter(sd))
    del sd[first]
    torch.save(sd, tmp_path / "partial.pth")
    rc = main(["models", "import", card.name, str(tmp_path / "partial.pth"), "--allow-checksum-mismatch"])
    assert rc == 2
    assert f"1 missing ({first})" in capsys.readouterr().err
    assert registry.installed_path(card) is None


def test_verify_with_nothing_installed(capsys):
    assert main(["models", "verify"]) == 0
    assert "no checkpoints installed" in capsys.readouterr().out
    assert main(["models", "verify", "sam_vit_b"]) == 2
    assert "not installed" in capsys.readouterr().err


def test_download_through_cli(test_cards, tmp_path, capsys, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    payload = make_checkpoint(tmp_path / "served.pth")
    server = LocalServer(payload.read_bytes())
    try:
        write_card(test_cards, "ncnet", sha(payload), url=server.url, commercial=False)
        # stdin is not a terminal under pytest: no question, a clear refusal
        assert main(["models", "download", "ncnet"]) == 2
        err = capsys.readouterr().err
        assert "does not allow commercial use" in err and "--accept-licence" in err
        assert server.state.requests == []
        assert main(["models", "download", "ncnet", "--accept-licence"]) == 0
        out = capsys.readouterr().out
        assert "installed ncnet" in out and "sha256 verified" in out
        assert (paths.models_dir() / "ncnet.pth").read_bytes() == payload.read_bytes()
        assert main(["models", "download", "ncnet"]) == 0  # already there: no second transfer
        assert "already installed" in capsys.readouterr().out
        assert len(server.state.requests) == 1
    finally:
        server.close()


def test_download_unknown_and_offline(test_cards, capsys, monkeypatch):
    from model_http_server import closed_port

    monkeypatch.setenv("no_proxy", "*")
    write_card(test_cards, "offnet", None, url=f"http://127.0.0.1:{closed_port()}/offnet.pth")
    assert main(["models", "download", "offnt"]) == 2
    assert "did you mean offnet" in capsys.readouterr().err
    assert main(["models", "download", "offnet"]) == 2
    assert "connection refused" in capsys.readouterr().err


class _Terminal:
    """stdin that says it is a terminal and answers the licence question."""

    def __init__(self, answer: str):
        import io

        self._buf = io.StringIO(answer + "\n")

    def isatty(self) -> bool:
        return True

    def readline(self, *a):
        return self._buf.readline(*a)

    def read(self, *a):
        return self._buf.read(*a)


@pytest.mark.parametrize("answer,rc", [("n", 2), ("y", 0)])
def test_licence_question_on_a_terminal(test_cards, tmp_path, capsys, monkeypatch, answer, rc):
    import sys

    for var in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    payload = make_checkpoint(tmp_path / "served.pth")
    server = LocalServer(payload.read_bytes())
    try:
        write_card(test_cards, "ncnet", sha(payload), url=server.url, commercial=False)
        monkeypatch.setattr(sys, "stdin", _Terminal(answer))
        assert main(["models", "download", "ncnet"]) == rc
        out = capsys.readouterr()
        assert "Accept this licence" in out.out
        assert (len(server.state.requests) == 1) == (answer == "y")
        assert (paths.models_dir() / "ncnet.pth").exists() == (answer == "y")
        if answer == "n":
            assert "licence not accepted" in out.err
    finally:
        server.close()
