"""Model manager (issue 14, item 9): every column fits at the default size, and a checkpoint
whose sha256 is not the published one gets the GUI's own choice (keep anyway / delete and
download again / cancel) instead of a pointer to a command-line flag. Files come from a local
HTTP server; the card is a copy of the real MobileSAM card pointing at it."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from gui_helpers import wait_for


class _Serve(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    gets: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.gets.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        try:
            self.wfile.write(self.body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def checkpoint_bytes(tmp_path_factory):
    """A randomly initialised MobileSAM in the official layout (the key checks accept it)."""
    torch = pytest.importorskip("torch")
    from annotator.engines import registry
    from annotator.nn import factory

    torch.manual_seed(0)
    f = tmp_path_factory.mktemp("ckpt") / "mobile_sam.pt"
    torch.save(factory.build(dict(registry.get_card("mobilesam").arch)).state_dict(), f)
    return f.read_bytes()


@pytest.fixture
def server(checkpoint_bytes):
    handler = type("H", (_Serve,), {"body": checkpoint_bytes, "gets": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield httpd, handler
    httpd.shutdown()
    httpd.server_close()


def _cards(tmp_path, monkeypatch, url, sha256, size):
    from annotator import paths

    cards = tmp_path / "cards"
    cards.mkdir(exist_ok=True)
    card = yaml.safe_load((paths.repo_root() / "models" / "mobilesam.yaml").read_text())
    card["checkpoint"].update(urls=[url], sha256=sha256, size=size)
    (cards / "mobilesam.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setenv("ANNOTATOR_CARDS_DIR", str(cards))
    monkeypatch.setenv("no_proxy", "127.0.0.1")


def _dialog(qtbot):
    from annotator.gui.models_dialog import ModelManagerDialog

    dlg = ModelManagerDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    wait_for(lambda: dlg.idle and dlg.loaded, 60, "the model list")
    return dlg


def _no_cli_flags():
    from annotator.gui import errors

    assert not any("--allow-checksum-mismatch" in text for _t, text in errors.shown), errors.shown


def test_columns_fit_at_the_default_size(qtbot):
    dlg = _dialog(qtbot)
    t = dlg.table
    assert t.rowCount() > 20  # the real cards
    wait_for(lambda: t.horizontalScrollBar().maximum() == 0, 10, "no horizontal scrolling")
    last = len(dlg.COLS) - 1
    assert dlg.COLS[last] == "Licence"
    assert t.columnViewportPosition(last) + t.columnWidth(last) <= t.viewport().width()
    fm = t.fontMetrics()
    for col in range(1, len(dlg.COLS)):  # every cell but the (elided) model name shows in full
        for row in range(t.rowCount()):
            text = t.item(row, col).text()
            assert fm.horizontalAdvance(text) <= t.columnWidth(col), (dlg.COLS[col], text)
    # a card our code cannot use says why on the status line, not in a column wider than the window
    dlg.select("tinysam_w8a8")
    assert "cannot be loaded safely" in dlg.status.text()


def test_mismatch_box_offers_three_choices(qtbot):
    from annotator.gui import checksum_choice

    box = checksum_choice.mismatch_box(None, "x.pt: sha256 differs")
    qtbot.addWidget(box)
    names = {b.objectName(): b.text() for b in box.buttons()}
    assert set(names) == {checksum_choice.KEEP, checksum_choice.REDOWNLOAD, checksum_choice.CANCEL}
    assert names[checksum_choice.KEEP] == "Keep anyway" and "download again" in names[checksum_choice.REDOWNLOAD]
    assert box.defaultButton().objectName() == checksum_choice.CANCEL


def test_download_mismatch_keep_anyway_installs_it(qtbot, server, tmp_path, monkeypatch):
    from annotator.engines import registry
    from annotator.gui import checksum_choice

    httpd, handler = server
    _cards(tmp_path, monkeypatch, f"http://127.0.0.1:{httpd.server_address[1]}/m.pt", "0" * 64, len(handler.body))
    monkeypatch.setattr(checksum_choice, "ANSWER", checksum_choice.KEEP)
    dlg = _dialog(qtbot)
    dlg.select("mobilesam")
    dlg.btn_download.click()
    wait_for(lambda: dlg.idle, 120, "download, question and install")
    assert dlg.last_result[0] is True, dlg.last_result
    card = registry.get_card("mobilesam")
    installed = registry.installed_path(card)
    assert installed is not None and installed.read_bytes() == handler.body
    assert not list(installed.parent.glob("*.mismatch"))  # the set-aside copy is gone
    from annotator.gui import errors

    assert any(title == "Checksum mismatch" for title, _ in errors.shown)
    _no_cli_flags()
    wait_for(lambda: dlg.loaded, 30, "the list")
    assert dlg.table.item(dlg.names().index("mobilesam"), 3).text() == "installed"


def test_download_mismatch_cancel_installs_nothing(qtbot, server, tmp_path, monkeypatch):
    from annotator import paths
    from annotator.engines import registry
    from annotator.gui import checksum_choice

    httpd, handler = server
    _cards(tmp_path, monkeypatch, f"http://127.0.0.1:{httpd.server_address[1]}/m.pt", "0" * 64, len(handler.body))
    monkeypatch.setattr(checksum_choice, "ANSWER", checksum_choice.CANCEL)
    dlg = _dialog(qtbot)
    dlg.select("mobilesam")
    dlg.btn_download.click()
    wait_for(lambda: dlg.idle, 120, "download and question")
    assert dlg.last_result[0] is False and "does not match" in dlg.last_result[1]
    assert registry.installed_path(registry.get_card("mobilesam")) is None
    assert not list(paths.models_dir().glob("mobile_sam*"))  # neither installed nor set aside
    _no_cli_flags()


def test_verify_mismatch_delete_and_download_again(qtbot, server, tmp_path, monkeypatch):
    from annotator.engines import registry
    from annotator.gui import checksum_choice

    httpd, handler = server
    url = f"http://127.0.0.1:{httpd.server_address[1]}/m.pt"
    _cards(tmp_path, monkeypatch, url, hashlib.sha256(handler.body).hexdigest(), len(handler.body))
    card = registry.get_card("mobilesam")
    damaged = bytearray(handler.body)
    damaged[-100] ^= 0xFF  # one flipped byte in the installed file
    registry.target_path(card).write_bytes(bytes(damaged))
    monkeypatch.setattr(checksum_choice, "ANSWER", checksum_choice.REDOWNLOAD)
    dlg = _dialog(qtbot)
    dlg.select("mobilesam")
    assert dlg.btn_verify.isEnabled()
    dlg.btn_verify.click()
    wait_for(lambda: dlg.idle, 120, "verify, question and download")
    assert dlg.last_result[0] is True, dlg.last_result
    assert registry.installed_path(card).read_bytes() == handler.body
    assert handler.gets == ["/m.pt"]
    _no_cli_flags()


def test_import_mismatch_install_anyway(qtbot, tmp_path, monkeypatch, checkpoint_bytes):
    from annotator.engines import registry
    from annotator.gui import checksum_choice

    _cards(tmp_path, monkeypatch, "https://example.invalid/m.pt", "0" * 64, len(checkpoint_bytes))
    f = tmp_path / "my_finetuned.pt"
    f.write_bytes(checkpoint_bytes)
    monkeypatch.setattr(checksum_choice, "ANSWER", checksum_choice.KEEP)
    dlg = _dialog(qtbot)
    dlg.import_file("mobilesam", str(f))
    wait_for(lambda: dlg.idle, 120, "import, question and install")
    assert dlg.last_result[0] is True, dlg.last_result
    assert registry.installed_path(registry.get_card("mobilesam")).read_bytes() == checkpoint_bytes
    assert f.is_file()  # the person's own file is never deleted
    _no_cli_flags()
