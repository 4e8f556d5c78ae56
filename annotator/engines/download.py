"""Checkpoint downloads: resumable HTTP(S), sha256 check, atomic install, licence consent.

The file grows as `<models_dir>/<file>.part`; an interrupted download keeps it and the next
attempt asks the server for the rest (HTTP Range). Only a complete file whose sha256 matches
the card is renamed to its final name, so a half or corrupt file is never taken for a model.
urllib's default opener reads http_proxy / https_proxy / no_proxy from the environment.
No torch here.
"""
from __future__ import annotations

import contextlib
import errno
import http.client
import hashlib
import json
import logging
import os
import shutil
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Union

from annotator import __version__, paths
from annotator.errors import AnnotatorError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# Overall time one download_file() call may take, retries included (ANNOTATOR_DOWNLOAD_DEADLINE
# seconds overrides): a server trickling bytes just fast enough to dodge the read timeout must
# not hold it forever. The partial file is kept, so the next call resumes.
DEFAULT_DEADLINE = 3 * 3600.0
# A connection bringing fewer than SLOW_BYTES in SLOW_WINDOW seconds is dropped and resumed.
SLOW_WINDOW, SLOW_BYTES = 60.0, 16 * 1024
# The most a download without a published size may write (ANNOTATOR_MAX_DOWNLOAD_BYTES
# overrides): the largest checkpoints we know are under 3 GB; an endless stream must not
# fill the disk.
DEFAULT_MAX_UNSIZED = 4 << 30
Progress = Callable[[int, Optional[int]], None]  # (bytes so far, total bytes or None)
Cancel = Union[threading.Event, Callable[[], bool], None]


class DownloadError(AnnotatorError):
    """A download failed (network, server, disk); a partial file is kept for resuming."""

    def __init__(self, message: str, retry: bool = False):
        super().__init__(message)
        self.retry = retry  # worth trying the same URL again (dropped connection, 5xx, timeout)


class ChecksumError(DownloadError):
    """The downloaded or imported file is not the published one. `kept`: where a downloaded
    file was set aside for the person to decide about (download_file(keep_mismatch=True))."""

    def __init__(self, message: str, kept: Path | None = None):
        super().__init__(message)
        self.kept = kept


class DownloadCancelled(DownloadError):
    """The user cancelled; the partial file is kept so the next attempt resumes."""


class LicenceNotAccepted(AnnotatorError):
    """A non-commercial licence must be accepted before its weights are downloaded."""


# --- hashing -----------------------------------------------------------------------------


def sha256_file(path: Path, progress: Progress | None = None, cancel: Cancel = None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            h.update(block)
            done += len(block)
            if progress:
                progress(done, total)
            _check_cancel(cancel)
    return h.hexdigest()


def _cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _check_cancel(cancel: Cancel) -> None:
    if _cancelled(cancel):
        raise DownloadCancelled("download cancelled; the partial file is kept and the next download resumes it")


# --- the transfer ------------------------------------------------------------------------


def _network_message(url: str, e: BaseException) -> str:
    """Turn urllib/socket failures into one line a person can act on."""
    host = urllib.request.urlparse(url).netloc
    reason = getattr(e, "reason", e)
    if isinstance(e, urllib.error.HTTPError):
        return f"{url}: the server answered HTTP {e.code} {e.reason}"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve {host}: no network connection or DNS failure (are you offline? a proxy can be set with https_proxy)"
    if isinstance(reason, ConnectionRefusedError):
        return f"cannot connect to {host}: connection refused (offline, or a firewall/proxy blocks it)"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"{host} did not answer in time (slow or no network connection)"
    if isinstance(reason, ssl.SSLError):
        return f"secure connection to {host} failed ({reason}); a proxy or firewall may intercept HTTPS"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"cannot reach {host}: network unreachable (are you offline?)"
    return f"cannot download from {host}: {reason}"


def _open(url: str, start: int, timeout: float):
    req = urllib.request.Request(url, headers={"User-Agent": f"annotator/{__version__}"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    # build_opener() installs ProxyHandler(getproxies()) -> env proxies and no_proxy apply.
    return urllib.request.build_opener().open(req, timeout=timeout)


def _total_from(resp, start: int) -> int | None:
    cr = resp.headers.get("Content-Range")  # "bytes 100-199/200"
    if cr and "/" in cr:
        tail = cr.rsplit("/", 1)[1].strip()
        if tail.isdigit():
            return int(tail)
    cl = resp.headers.get("Content-Length")
    if cl and cl.isdigit():
        return start + int(cl)
    return None


def _range_start(resp) -> int | None:
    cr = resp.headers.get("Content-Range")
    if not cr:
        return None
    try:
        return int(cr.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise DownloadError(f"{folder}: cannot write there ({e.strerror or e}); choose another folder with ANNOTATOR_MODELS_DIR") from None


def _env_number(name: str, default: float) -> float:
    try:
        v = float(os.environ.get(name, ""))
        return v if v > 0 else default
    except ValueError:
        return default


def _too_big(part: Path, url: str, limit: int, what: str) -> DownloadError:
    part.unlink(missing_ok=True)
    return DownloadError(f"{url}: {what} more than {_mb(limit)}, the most this download may be "
                         "(no published size; ANNOTATOR_MAX_DOWNLOAD_BYTES raises it); the partial file was deleted")


def _transfer(url: str, part: Path, expected_size: int | None, progress: Progress | None, cancel: Cancel,
              timeout: float, deadline: float | None = None, max_size: int | None = None) -> None:
    """Append the rest of `url` to `part` (resuming from its current size), writing every
    byte as it arrives (a stall keeps what came before it)."""
    start = part.stat().st_size if part.exists() else 0
    if expected_size is not None and start > expected_size:
        part.unlink()  # larger than the real file: not a prefix of it
        start = 0
    if expected_size is not None and start == expected_size:
        return  # already complete; the checksum decides whether it is right
    try:
        resp = _open(url, start, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # nothing left to send: the .part is already whole
            return
        raise DownloadError(_network_message(url, e), retry=e.code >= 500) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        retry = not isinstance(reason, (socket.gaierror, ConnectionRefusedError, ssl.SSLError))
        raise DownloadError(_network_message(url, e), retry=retry) from None
    with resp:
        status = getattr(resp, "status", 200)
        if start and (status != 206 or _range_start(resp) != start):
            log.info("server ignored the Range request for %s; starting over", url)
            start = 0
        total = _total_from(resp, start)
        if expected_size is not None and total is not None and total != expected_size:
            raise DownloadError(f"{url}: the server offers {total} bytes but the model card expects {expected_size}")
        if expected_size is None and max_size is not None and total is not None and total > max_size:
            raise _too_big(part, url, max_size, f"the server offers {_mb(total)},")
        total = total or expected_size
        limit = expected_size if expected_size is not None else max_size
        done = start
        window = [(time.monotonic(), done)]  # (time, bytes) samples for the speed floor
        try:
            with open(part, "ab" if start else "wb") as f:
                if progress:
                    progress(done, total)
                while True:
                    _check_cancel(cancel)
                    now = time.monotonic()
                    if deadline is not None and now > deadline:
                        raise DownloadError(
                            f"{url}: the download took too long ({_mb(done)} of {_mb(total)} so far); the "
                            "partial file is kept and the next download resumes it")
                    while len(window) > 1 and now - window[1][0] >= SLOW_WINDOW:
                        window.pop(0)
                    if now - window[0][0] >= SLOW_WINDOW and done - window[0][1] < SLOW_BYTES:
                        raise DownloadError(
                            f"{url}: the server is sending too slowly ({_mb(done - window[0][1])} in "
                            f"{now - window[0][0]:.0f} s); the partial file is kept and resumed", retry=True)
                    try:
                        # read1: what has arrived (up to CHUNK), so a stall loses nothing before it
                        block = resp.read1(CHUNK)
                    except (OSError, ValueError, http.client.HTTPException) as e:  # IncompleteRead, reset, timeout
                        raise DownloadError(
                            f"{url}: connection lost after {_mb(done)} of {_mb(total)} ({type(e).__name__}); "
                            "the partial file is kept and the next download resumes it",
                            retry=True,
                        ) from None
                    if not block:
                        break
                    f.write(block)
                    f.flush()
                    done += len(block)
                    window.append((time.monotonic(), done))
                    if limit is not None and done > limit:
                        if expected_size is not None:
                            part.unlink(missing_ok=True)
                            raise DownloadError(f"{url}: the server sent more than the {expected_size} bytes "
                                                "the model card expects; the partial file was deleted")
                        raise _too_big(part, url, limit, "the server sent")
                    if progress:
                        progress(done, total)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DownloadError(f"{part.parent}: disk full after {_mb(done)}; free space and run the download again") from None
            raise DownloadError(f"{part}: cannot write ({e.strerror or e})") from None
        if total is not None and done < total:
            raise DownloadError(
                f"{url}: connection closed after {_mb(done)} of {_mb(total)}; the partial file is kept and the next download resumes it",
                retry=True,
            )


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def download_file(
    urls: list[str] | str,
    dest: Path,
    sha256: str | None = None,
    size: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel = None,
    retries: int = 2,
    timeout: float = 30.0,
    check: Callable[[Path], None] | None = None,
    deadline: float | None = None,
    max_size: int | None = None,
    keep_mismatch: bool = False,
) -> Path:
    """Download to `dest` (atomically, via `dest.part`), resuming a previous partial file.

    Each URL is tried in turn; a dropped connection is retried `retries` times, resuming.
    A sha256 mismatch deletes the partial file (resuming it cannot help) and installs nothing;
    with `keep_mismatch` the file is set aside as `dest.mismatch` instead (ChecksumError.kept),
    for a person who may want it anyway (the GUI asks).
    `check(part_path)` may inspect the complete file before it is installed; if it raises, the
    file is deleted and nothing is installed. `deadline`: seconds for the whole call (default
    DEFAULT_DEADLINE); `max_size`: the ceiling when `size` is unknown (DEFAULT_MAX_UNSIZED).
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    if not urls:
        raise DownloadError(f"{dest.name}: no download URL is known; download it by hand and use `annotator models import`")
    dest = Path(dest)
    _ensure_writable(dest.parent)
    part = dest.with_name(dest.name + ".part")
    _check_free_space(part, size)
    ends = time.monotonic() + (deadline or _env_number("ANNOTATOR_DOWNLOAD_DEADLINE", DEFAULT_DEADLINE))
    ceiling = None if size is not None else int(max_size or _env_number("ANNOTATOR_MAX_DOWNLOAD_BYTES",
                                                                         DEFAULT_MAX_UNSIZED))
    with _DownloadLock(dest):
        return _download_locked(urls, dest, part, sha256, size, progress, cancel, retries, timeout, check,
                                ends, ceiling, keep_mismatch)


def _check_free_space(part: Path, size: int | None) -> None:
    if size is None:
        return
    have = part.stat().st_size if part.exists() else 0
    free = shutil.disk_usage(part.parent).free
    if free < size - have:
        raise DownloadError(
            f"{part.parent}: not enough free disk space ({_mb(free)} free, {_mb(size - have)} needed); "
            "free some space or choose another folder with ANNOTATOR_MODELS_DIR"
        )


class _DownloadLock:
    """One download per file at a time (the GUI and the CLI may both try): an OS lock on
    `<file>.lock`, which the kernel drops when its holder dies, so a stale lock can never
    block (a pid written in it only names the holder in the message; pids get reused)."""

    def __init__(self, dest: Path):
        self.path = dest.with_name(dest.name + ".lock")
        self.fd: int | None = None

    def __enter__(self):
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                pid = _read_pid(self.path)
                os.close(fd)
                who = f" (pid {pid})" if pid else ""
                raise DownloadError(
                    f"{self.path.parent / self.path.stem}: already being downloaded by another process{who}")
            try:  # the holder before us may have removed the file after we opened it: retry
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self.fd = fd
            return self
        raise DownloadError(f"{self.path}: cannot take the download lock")

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):  # while still holding it (see the samestat check)
                self.path.unlink()
            os.close(self.fd)
            self.fd = None


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _download_locked(urls, dest, part, sha256, size, progress, cancel, retries, timeout, check,
                     deadline=None, max_size=None, keep_mismatch=False) -> Path:
    last: DownloadError | None = None
    for url in urls:
        for attempt in range(retries + 1):
            try:
                _transfer(url, part, size, progress, cancel, timeout, deadline, max_size)
                last = None
                break
            except DownloadCancelled:
                raise
            except DownloadError as e:
                last = e
                log.warning("download attempt %d of %s failed: %s", attempt + 1, url, e)
                if not e.retry:
                    break  # retrying the same URL cannot help (404, DNS, disk)
                if attempt < retries:
                    time.sleep(min(2.0**attempt, 5.0) * 0.5)
        if last is None:
            break
    if last is not None:
        raise last
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        part.unlink()
        raise ChecksumError(f"{dest.name}: downloaded {got_size} bytes but the model card expects {size}; nothing installed")
    if sha256:
        digest = sha256_file(part, cancel=cancel)
        if digest != sha256.lower():
            what = f"{dest.name}: sha256 {digest[:16]}... does not match the published {sha256[:16]}..."
            if keep_mismatch:
                kept = dest.with_name(dest.name + ".mismatch")
                os.replace(part, kept)
                raise ChecksumError(f"{what}; nothing installed (the file is set aside as {kept.name})", kept)
            part.unlink()
            raise ChecksumError(f"{what}; the file was deleted and nothing installed")
    else:
        log.warning("%s: no published sha256; installed without a checksum check", dest.name)
    if check is not None:
        try:
            check(part)
        except AnnotatorError as e:
            part.unlink(missing_ok=True)
            raise type(e)(f"downloaded {dest.name} was deleted, nothing installed: {e}") from None
    os.replace(part, dest)
    return dest


# --- model cards -------------------------------------------------------------------------


def _accepted_path() -> Path:
    return paths.config_dir() / "accepted_licences.json"


def licence_accepted(card) -> bool:
    if card.commercial:
        return True
    try:
        data = json.loads(_accepted_path().read_text())
    except (OSError, ValueError):
        return False
    return card.name in data


def record_licence_acceptance(card) -> None:
    p = _accepted_path()
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        data = {}
    data[card.name] = {"licence": card.licence.get("name"), "accepted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, p)


def licence_notice(card) -> str | None:
    """Text to show before downloading weights with a restrictive licence (None if none)."""
    if card.commercial:
        return None
    lic = card.licence
    url = f" ({lic['url']})" if lic.get("url") else ""
    return (
        f"Licence of the {card.title} weights: {lic.get('name', 'unknown')}{url}. It does not allow "
        "commercial use: download and use them only if your use is non-commercial."
    )


def download_card(card, progress: Progress | None = None, cancel: Cancel = None,
                  accept_licence: bool = False, retries: int = 2, keep_mismatch: bool = False) -> Path:
    """Download a card's checkpoint into the models folder (licence consent required first)."""
    from annotator.engines.registry import installed_path, target_path

    if not card.commercial and not (accept_licence or licence_accepted(card)):
        raise LicenceNotAccepted(
            f"model {card.name}: its licence ({card.licence.get('name')}) forbids commercial use and must be "
            f"accepted first; run `annotator models download {card.name} --accept-licence`"
        )
    if card.container == "pickled_module":
        from annotator.engines.checkpoint import pickled_module_message

        raise DownloadError(f"model {card.name}: not downloaded: " + pickled_module_message(card))
    if not card.urls:
        raise DownloadError(
            f"model {card.name}: no official download URL is published; get {card.file} by hand and run "
            f"`annotator models import {card.name} FILE`"
        )
    if not card.commercial:
        record_licence_acceptance(card)
    _download_extra_files(card, progress, cancel, retries)  # small (tokenizer): first, so a
    # checkpoint is never installed without them
    have = installed_path(card)
    if have is not None:
        return have
    check = None if card.sha256 else (lambda p: _check_unverified(card, p))
    return download_file(card.urls, target_path(card), card.sha256, card.size, progress, cancel, retries,
                         check=check, keep_mismatch=keep_mismatch)


def _download_extra_files(card, progress, cancel, retries) -> None:
    from annotator.engines.registry import extra_file_path

    for e in card.extra_files:
        dest = extra_file_path(e)
        if dest.is_file():
            continue
        if not e.get("url"):
            raise DownloadError(f"model {card.name}: {e['file']} has no download URL; put it in {dest.parent} by hand")
        download_file([e["url"]], dest, e.get("sha256"), e.get("size"), progress, cancel, retries)


def _check_unverified(card, part: Path) -> None:
    """Without a published sha256, make sure the file is at least this model's checkpoint:
    weights-only loadable, not another known model, and (when our architecture exists) every
    key and shape right."""
    from annotator.engines import checkpoint, registry

    sd = checkpoint.load_checkpoint(card, part)
    if registry.is_implemented(card):
        checkpoint.check_keys(checkpoint.expected_shapes(card), sd, card, card.file)


class TextProgress:
    """A one-line progress bar on a terminal stream (plain lines when not a terminal)."""

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.t0 = time.monotonic()
        self.first: int | None = None
        self.last_draw = 0.0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = done
        finished = total is not None and done >= total
        if not finished and now - self.last_draw < (0.1 if self.tty else 5.0):
            return
        self.last_draw = now
        speed = (done - self.first) / max(now - self.t0, 1e-6)
        if total:
            frac = min(done / total, 1.0)
            bar = "#" * int(frac * self.width)
            text = f"{self.label} [{bar:<{self.width}}] {frac * 100:5.1f}% {_mb(done)}/{_mb(total)} {speed / 1e6:.1f} MB/s"
        else:
            text = f"{self.label} {_mb(done)} {speed / 1e6:.1f} MB/s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if finished else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def copy_atomic(src: Path, dest: Path) -> Path:
    """Copy a file into place so a reader never sees it half-written."""
    _ensure_writable(dest.parent)
    tmp = dest.with_name(dest.name + f".import-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno == errno.ENOSPC:
            raise DownloadError(f"{dest.parent}: disk full while copying {src.name}") from None
        raise DownloadError(f"{dest}: cannot write ({e.strerror or e})") from None
    return dest
