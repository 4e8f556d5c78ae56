"""Model downloads against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from annotator.engines import download as dl
from annotator.engines.registry import Card
from model_http_server import LocalServer, closed_port

SIZE = 3 * dl.CHUNK + 12345  # several chunks, not a multiple of the chunk size


@pytest.fixture(scope="module")
def body() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def server(body, monkeypatch):
    # The download must reach 127.0.0.1 directly even where the environment sets a proxy.
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "")
    s = LocalServer(body)
    yield s
    s.close()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_full_download(server, body, tmp_path):
    seen = []
    dest = dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body), size=len(body),
                            progress=lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == body
    assert not (tmp_path / "m.pt.part").exists()
    assert seen[-1] == (len(body), len(body))
    assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:]))
    assert server.state.requests[0]["range"] is None
    assert server.state.requests[0]["user_agent"].startswith("annotator/")


def test_interrupted_then_resumed(server, body, tmp_path):
    server.state.plan = ["drop"]
    dest = tmp_path / "m.pt"
    with pytest.raises(dl.DownloadError, match="connection lost|connection closed") as e:
        dl.download_file(server.url, dest, sha256=sha(body), size=len(body), retries=0)
    assert "resume" in str(e.value)
    part = tmp_path / "m.pt.part"
    kept = part.stat().st_size
    assert 0 < kept < len(body) and not dest.exists()
    assert part.read_bytes() == body[:kept]

    dl.download_file(server.url, dest, sha256=sha(body), size=len(body), retries=0)
    assert server.state.requests[1]["range"] == f"bytes={kept}-"
    assert dest.read_bytes() == body and not part.exists()


def test_dropped_connection_is_retried_with_range_in_one_call(server, body, tmp_path):
    server.state.plan = ["drop"]
    dest = dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body), size=len(body), retries=1)
    assert dest.read_bytes() == body
    assert len(server.state.requests) == 2
    assert server.state.requests[1]["range"].startswith("bytes=") and server.state.requests[1]["range"] != "bytes=0-"


def test_resume_survives_redirect(server, body, tmp_path):
    server.state.plan = ["ok", "drop"]  # request 0 is the redirect itself
    dest = tmp_path / "m.pt"
    with pytest.raises(dl.DownloadError):
        dl.download_file(server.base + "/redirect", dest, sha256=sha(body), size=len(body), retries=0)
    kept = (tmp_path / "m.pt.part").stat().st_size
    dl.download_file(server.base + "/redirect", dest, sha256=sha(body), size=len(body), retries=0)
    ranges = [r["range"] for r in server.state.requests if r["path"] == "/file.bin"]
    assert ranges[-1] == f"bytes={kept}-"
    assert dest.read_bytes() == body


def test_server_ignoring_range_restarts_cleanly(server, body, tmp_path):
    (tmp_path / "m.pt.part").write_bytes(body[:1000])
    server.state.plan = ["no-range"]
    dest = dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body), size=len(body))
    assert server.state.requests[0]["range"] == "bytes=1000-"
    assert dest.read_bytes() == body


def test_wrong_checksum_is_rejected_and_not_installed(server, body, tmp_path):
    dest = tmp_path / "m.pt"
    with pytest.raises(dl.ChecksumError, match="does not match"):
        dl.download_file(server.url, dest, sha256="0" * 64, size=len(body))
    assert not dest.exists() and not (tmp_path / "m.pt.part").exists()


def test_wrong_size_is_rejected(server, body, tmp_path):
    with pytest.raises(dl.DownloadError, match="expects"):
        dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body), size=len(body) + 1)
    assert not (tmp_path / "m.pt").exists()


def test_server_error_is_retried_then_reported(server, body, tmp_path):
    server.state.plan = ["500", "500"]
    with pytest.raises(dl.DownloadError, match="HTTP 500"):
        dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body), retries=1)
    assert len(server.state.requests) == 2  # a 5xx is worth one more try
    assert not (tmp_path / "m.pt").exists()


def test_not_found_is_not_retried_and_next_url_is_tried(server, body, tmp_path):
    with pytest.raises(dl.DownloadError, match="HTTP 404"):
        dl.download_file(server.base + "/missing.bin", tmp_path / "m.pt", retries=3)
    assert len(server.state.requests) == 1
    dest = dl.download_file([server.base + "/missing.bin", server.url], tmp_path / "m.pt", sha256=sha(body))
    assert dest.read_bytes() == body


def test_unwritable_destination(server, body, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(dl.DownloadError, match="cannot write"):
        dl.download_file(server.url, blocker / "models" / "m.pt", sha256=sha(body))
    assert server.state.requests == []  # refused before any network traffic


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder(server, body, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(dl.DownloadError, match="cannot write"):
            dl.download_file(server.url, ro / "m.pt", sha256=sha(body))
    finally:
        ro.chmod(0o700)


def test_offline_closed_port(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    with pytest.raises(dl.DownloadError, match="connection refused"):
        dl.download_file(f"http://127.0.0.1:{closed_port()}/file.bin", tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_offline_dns_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    with pytest.raises(dl.DownloadError, match="cannot resolve models.example.invalid"):
        dl.download_file("http://models.example.invalid/file.bin", tmp_path / "m.pt", timeout=5)


def test_http_proxy_variable_is_honoured(server, body, tmp_path, monkeypatch):
    # The host does not exist: only a proxy (our server) can answer for it.
    monkeypatch.setenv("http_proxy", server.base)
    dest = dl.download_file("http://models.example.invalid/file.bin", tmp_path / "m.pt", sha256=sha(body))
    assert dest.read_bytes() == body
    assert server.state.requests[0]["path"] == "http://models.example.invalid/file.bin"


def test_no_proxy_bypasses_the_proxy(server, body, tmp_path, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    dest = dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body))
    assert dest.read_bytes() == body


def test_cancel_keeps_partial_and_resumes(server, body, tmp_path):
    stop = threading.Event()

    def progress(done, total):
        if done >= dl.CHUNK:
            stop.set()

    dest = tmp_path / "m.pt"
    with pytest.raises(dl.DownloadCancelled):
        dl.download_file(server.url, dest, sha256=sha(body), size=len(body), progress=progress, cancel=stop)
    kept = (tmp_path / "m.pt.part").stat().st_size
    assert dl.CHUNK <= kept < len(body) and not dest.exists()
    dl.download_file(server.url, dest, sha256=sha(body), size=len(body), cancel=lambda: False)
    assert server.state.requests[-1]["range"] == f"bytes={kept}-"
    assert dest.read_bytes() == body


def _card(tmp_path: Path, url: str, digest: str, commercial: bool) -> Card:
    return Card(
        name="testnet", title="TestNet", kind="image", arch={"family": "none"},
        input={"image_size": 1024, "resize": "longest_side", "pixel_mean": [0, 0, 0], "pixel_std": [1, 1, 1]},
        checkpoint={"file": "testnet.pth", "urls": [url], "sha256": digest, "size": None, "container": "state_dict"},
        licence={"name": "Test Non-Commercial", "commercial": commercial}, schema=None, params=None,
        path=tmp_path / "testnet.yaml",
    )


def test_non_commercial_licence_must_be_accepted(server, body, tmp_path):
    card = _card(tmp_path, server.url, sha(body), commercial=False)
    assert "commercial" in dl.licence_notice(card)
    with pytest.raises(dl.LicenceNotAccepted, match="--accept-licence"):
        dl.download_card(card)
    assert server.state.requests == []
    path = dl.download_card(card, accept_licence=True)
    assert path.read_bytes() == body and path.name == "testnet.pth"
    assert dl.licence_accepted(card)  # remembered: the GUI does not ask twice


def test_commercial_card_needs_no_consent(server, body, tmp_path):
    card = _card(tmp_path, server.url, sha(body), commercial=True)
    assert dl.licence_notice(card) is None
    assert dl.download_card(card).read_bytes() == body


def test_text_progress_bar(tmp_path):
    import io

    out = io.StringIO()
    bar = dl.TextProgress("m.pt", stream=out)
    bar(0, 2_000_000)
    bar(2_000_000, 2_000_000)
    text = out.getvalue()
    assert "100.0%" in text and "2.0 MB/2.0 MB" in text


def test_not_enough_disk_space_is_said_before_downloading(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="not enough free disk space"):
        dl.download_file(server.url, tmp_path / "m.pt", size=10**18)
    assert server.state.requests == []


_HOLD_LOCK = ("import sys, time; from pathlib import Path; from annotator.engines.download import _DownloadLock\n"
              "with _DownloadLock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)")


def test_one_download_per_file(server, body, tmp_path):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(tmp_path / "m.pt")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(dl.DownloadError, match=f"already being downloaded by another process \\(pid {holder.pid}"):
            dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body))
    finally:
        holder.kill()
        holder.wait()
    lock = tmp_path / "m.pt.lock"
    assert lock.exists()  # left behind by the killed holder: stale, taken over
    assert dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body)).read_bytes() == body
    assert not lock.exists()


def test_stale_lock_with_a_reused_pid_is_taken_over(server, body, tmp_path):
    lock = tmp_path / "m.pt.lock"
    lock.write_text(str(os.getppid()))  # a live process, but it holds no lock: the pid was reused
    assert dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body)).read_bytes() == body


def test_bytes_before_a_stall_are_kept_and_resume_progresses(server, body, tmp_path):
    server.state.stall_s = 3.0
    server.state.plan = ["stall", "stall", "stall"]
    dest = tmp_path / "m.pt"
    sizes = []
    for _ in range(3):
        with pytest.raises(dl.DownloadError, match="connection lost"):
            dl.download_file(server.url, dest, sha256=sha(body), size=len(body), retries=0, timeout=0.5)
        sizes.append((tmp_path / "m.pt.part").stat().st_size)
    want, have = [], 0
    for _ in range(3):  # every byte sent before each stall is kept
        have += (len(body) - have) // 2
        want.append(have)
    assert sizes == want
    assert dl.download_file(server.url, dest, sha256=sha(body), size=len(body)).read_bytes() == body
    assert server.state.requests[-1]["range"] == f"bytes={sizes[2]}-"


def test_trickling_server_meets_the_overall_deadline(server, body, tmp_path):
    import time

    server.state.plan = ["trickle"] * 5
    t0 = time.monotonic()
    with pytest.raises(dl.DownloadError, match="took too long"):
        dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body), size=len(body), deadline=1.0, timeout=5)
    assert time.monotonic() - t0 < 10
    assert (tmp_path / "m.pt.part").stat().st_size > 0  # kept for resuming
    assert not (tmp_path / "m.pt").exists()


def test_too_slow_connection_is_dropped_and_resumed(server, body, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "SLOW_WINDOW", 0.5)
    monkeypatch.setattr(dl, "SLOW_BYTES", 1000)
    server.state.plan = ["trickle"]
    dest = dl.download_file(server.url, tmp_path / "m.pt", sha256=sha(body), size=len(body), timeout=5)
    assert dest.read_bytes() == body and len(server.state.requests) == 2
    assert server.state.requests[1]["range"] is not None


def test_endless_stream_without_a_size_hits_the_ceiling(server, tmp_path):
    server.state.plan = ["endless"]
    with pytest.raises(dl.DownloadError, match="more than 5.2 MB"):
        dl.download_file(server.url, tmp_path / "m.pt", max_size=5_242_880, retries=0)
    assert not (tmp_path / "m.pt.part").exists() and not (tmp_path / "m.pt").exists()


def test_server_sending_more_than_the_card_says(server, body, tmp_path):
    server.state.plan = ["endless"]
    with pytest.raises(dl.DownloadError, match="more than the"):
        dl.download_file(server.url, tmp_path / "m.pt", size=len(body), retries=0)
    assert not (tmp_path / "m.pt.part").exists()


def test_https_proxy_variable_is_honoured(server, tmp_path, monkeypatch):
    # urllib must ask the proxy for a tunnel to the real host; our proxy refuses it.
    monkeypatch.setenv("https_proxy", server.base)
    with pytest.raises(dl.DownloadError, match="models.example.invalid"):
        dl.download_file("https://models.example.invalid/file.bin", tmp_path / "m.pt", retries=0)
    assert server.state.requests[0]["path"] == "CONNECT models.example.invalid:443"


def _serve_state_dict(sd: dict, tmp_path) -> tuple[LocalServer, bytes]:
    import torch

    torch.save(sd, tmp_path / "served.pth")
    data = (tmp_path / "served.pth").read_bytes()
    return LocalServer(data), data


def test_unverified_download_of_another_model_is_not_installed(tmp_path, monkeypatch):
    """No published sha256: the file must at least be this model's checkpoint."""
    import torch

    from annotator.engines.signatures import LAYOUTS
    from annotator.errors import CheckpointError

    monkeypatch.setenv("no_proxy", "*")
    sd = {k: torch.zeros(s) for k, s in LAYOUTS["edgetam"]["present"].items()}
    srv, _ = _serve_state_dict(sd, tmp_path)
    try:
        card = _card(tmp_path, srv.url, None, commercial=True)
        card = Card(**{**card.__dict__, "schema": "edgesam"})
        with pytest.raises(CheckpointError, match="deleted, nothing installed.*checkpoint for edgetam"):
            dl.download_card(card)
        from annotator.engines.registry import target_path

        dest = target_path(card)
        assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    finally:
        srv.close()


def test_unverified_html_page_is_not_installed(server, tmp_path):
    server.state.body = b"<html>login required</html>"
    card = _card(tmp_path, server.url, None, commercial=True)
    from annotator.errors import CheckpointError

    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        dl.download_card(card)


def test_safetensors_recognised_without_its_suffix(tmp_path):
    import torch
    from safetensors.torch import save_file

    from annotator.engines.checkpoint import load_state_dict_file

    save_file({"a": torch.ones(3)}, str(tmp_path / "w.safetensors"))
    (tmp_path / "w.safetensors").rename(tmp_path / "w.safetensors.part")
    assert torch.equal(load_state_dict_file(tmp_path / "w.safetensors.part")["a"], torch.ones(3))
