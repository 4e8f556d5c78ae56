"""First run (issue 14): with no learned model installed, a window opened without media says
so and offers the recommended model from the cards; one click downloads it from a (local)
server with progress and selects it; "Try it on a sample" opens the shipped sample photo."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from gui_helpers import wait_for, wait_loaded


class _Serve(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        try:
            for i in range(0, len(self.body), 1 << 20):
                self.wfile.write(self.body[i:i + (1 << 20)])
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def served_mobilesam(tmp_path, monkeypatch):
    """The real MobileSAM card, pointing at a local server that serves a randomly initialised
    MobileSAM in the official layout (its sha256 published in the card copy)."""
    torch = pytest.importorskip("torch")
    from annotator import paths
    from annotator.engines import registry
    from annotator.nn import factory

    card = yaml.safe_load((paths.repo_root() / "models" / "mobilesam.yaml").read_text())
    torch.manual_seed(0)
    f = tmp_path / "m.pt"
    torch.save(factory.build(dict(registry.get_card("mobilesam").arch)).state_dict(), f)
    body = f.read_bytes()
    handler = type("H", (_Serve,), {"body": body})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    card["checkpoint"].update(urls=[f"http://127.0.0.1:{httpd.server_address[1]}/mobile_sam.pt"],
                              sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "mobilesam.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setenv("ANNOTATOR_CARDS_DIR", str(cards))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    yield body
    httpd.shutdown()
    httpd.server_close()


def test_first_run_offers_downloads_and_selects(qtbot, make_window, served_mobilesam):
    from annotator.engines import registry

    win = make_window()
    panel = win.first_run
    wait_for(lambda: panel.checked, 60, "the first-run check")
    assert panel.isVisible()
    assert [o.card.name for o in panel.offers] == ["mobilesam"]  # the only image card here; no video card
    offer = panel.offers[0]
    assert offer.size == "40 MB download" or offer.size.endswith("MB download")
    assert offer.licence == "Apache-2.0" and "click" in offer.gives
    btn = panel.buttons["mobilesam"]
    assert btn.text() == "Download MobileSAM"
    progress = []
    panel.jobs.progressed.connect(lambda d, t: progress.append((d, t)))
    btn.click()
    assert panel.progress.isVisible() and panel.btn_cancel.isVisible()
    wait_for(lambda: not panel.jobs.busy, 120, "the download")
    assert panel.jobs.last_result[0] is True, panel.jobs.last_result
    assert progress and progress[-1] == (len(served_mobilesam), len(served_mobilesam))
    assert registry.installed_path(registry.get_card("mobilesam")).read_bytes() == served_mobilesam
    assert not panel.isVisible()
    wait_for(lambda: win.status_engine.text().startswith("Engine: mobilesam") and "·" in win.status_engine.text(),
             120, "mobilesam selected")
    assert win.model_combo.currentData() == "mobilesam"


def test_first_run_sample_opens(qtbot, make_window):
    win = make_window()
    panel = win.first_run
    wait_for(lambda: panel.checked, 60, "the first-run check")
    assert panel.isVisible()  # the shipped cards: no learned model installed
    kinds = {o.kind: o.card for o in panel.offers}
    assert set(kinds) == {"image", "video"} and kinds["video"].kind == "video"
    panel.btn_sample.click()
    wait_loaded(win, 60)
    assert win.item.name == "groceries.jpg"
    # opened from a copy: nothing is written into the app's resources/
    from annotator import paths

    assert not list(paths.resource("samples/groceries.jpg").parent.glob("*.annotator"))


def test_first_run_not_shown_with_media_or_once_hidden(qtbot, make_window, image_folder):
    win = make_window([str(image_folder)])
    assert not win.first_run.checked and not win.first_run.isVisible()
    win2 = make_window()
    wait_for(lambda: win2.first_run.checked, 60, "the first-run check")
    win2.first_run.btn_hide.click()
    assert not win2.first_run.isVisible() and win2.settings["first_run_hidden"] is True
