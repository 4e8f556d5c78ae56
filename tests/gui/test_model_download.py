"""Model manager downloads: progress while it runs, Cancel keeps the partial file, the next
try resumes it (HTTP Range) and installs the checkpoint after the sha256 check. Served by a
slow local HTTP server; the card is a copy of a real one pointing at it."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from gui_helpers import wait_for


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    ranges: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        start = 0
        rng = self.headers.get("Range")
        self.ranges.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
        rest = self.body[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(rest)))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(self.body) - 1}/{len(self.body)}")
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        try:
            for i in range(0, len(rest), 64 * 1024):
                self.wfile.write(rest[i:i + 64 * 1024])
                self.wfile.flush()
                time.sleep(0.03)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def slow_server():
    body = os.urandom(3 * 1024 * 1024)
    handler = type("H", (_Slow,), {"body": body, "ranges": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield httpd, handler, body
    httpd.shutdown()
    httpd.server_close()


def test_download_progress_cancel_resume(qtbot, slow_server, tmp_path, monkeypatch):
    from annotator import paths
    from annotator.engines import registry
    from annotator.gui.models_dialog import ModelManagerDialog

    httpd, handler, body = slow_server
    cards = tmp_path / "cards"
    cards.mkdir()
    card = yaml.safe_load((paths.repo_root() / "models" / "mobilesam.yaml").read_text())
    card["checkpoint"]["urls"] = [f"http://127.0.0.1:{httpd.server_address[1]}/file.bin"]
    card["checkpoint"]["sha256"] = hashlib.sha256(body).hexdigest()
    card["checkpoint"]["size"] = len(body)
    (cards / "mobilesam.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setenv("ANNOTATOR_CARDS_DIR", str(cards))
    monkeypatch.setenv("no_proxy", "127.0.0.1")

    dlg = ModelManagerDialog()
    qtbot.addWidget(dlg)
    wait_for(lambda: dlg.idle, 120, "the model list")
    dlg.show()
    assert dlg.names() == ["classic", "mobilesam"]
    dlg.select("mobilesam")
    progress = []
    dlg.btn_download.click()
    dlg.task.progressed.connect(lambda d, t: progress.append((d, t)))
    assert dlg.btn_cancel.isVisible() and dlg.progress.isVisible()
    wait_for(lambda: progress and progress[-1][0] > 300_000, 30, "some bytes")
    dlg.btn_cancel.click()
    wait_for(lambda: dlg.idle, 30, "cancel")
    assert dlg.last_result[0] is False
    target = registry.target_path(registry.get_card("mobilesam"))
    part = target.with_name(target.name + ".part")
    assert part.exists() and 0 < part.stat().st_size < len(body)
    assert registry.installed_path(registry.get_card("mobilesam")) is None
    assert progress[-1][1] == len(body)  # the total was known, so the bar showed a percentage

    dlg.select("mobilesam")
    dlg.btn_download.click()
    wait_for(lambda: dlg.idle, 60, "download")
    assert dlg.last_result[0] is True, dlg.last_result
    assert target.read_bytes() == body
    assert handler.ranges[-1] is not None and handler.ranges[-1].startswith("bytes=")  # resumed
    assert dlg.table.item(1, 3).text() == "installed"
