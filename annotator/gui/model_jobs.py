"""Model installs off the GUI thread, shared by the model manager and the first-run screen:
download (licence question first), import, verify, and the choice a checksum mismatch calls for.

One job at a time. The file work is annotator.engines.download / annotator.app.models, the
same code the `annotator models` commands run.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from annotator.errors import CheckpointError
from annotator.gui import checksum_choice
from annotator.gui import errors as gui_errors

log = logging.getLogger(__name__)


class Task(QThread):
    """Runs fn(progress, cancel) off the GUI thread."""

    progressed = Signal(object, object)  # done, total (bytes; total may be None)
    done = Signal(bool, str, object)  # ok, message, exception

    def __init__(self, fn, parent=None):
        super().__init__(parent)
        self.fn = fn
        self.cancel_event = threading.Event()

    def run(self) -> None:
        try:
            out = self.fn(lambda d, t: self.progressed.emit(d, t), self.cancel_event)
            if isinstance(out, list):
                self.rows, out = out, ""
            self.done.emit(True, out or "", None)
        except Exception as e:
            self.done.emit(False, gui_errors.message_for(e), e)


class ModelJobs(QObject):
    """Runs one install job; `parent_widget` owns the questions it asks."""

    started = Signal(str)  # what is running, for a status line
    progressed = Signal(object, object)  # bytes done, total (None: unknown)
    finished = Signal(bool, str)  # ok, message (after any mismatch choice was settled)

    def __init__(self, parent_widget):
        super().__init__(parent_widget)
        self.widget = parent_widget
        self.task: Task | None = None
        self.cancellable = False
        self.last_result: tuple[bool, str] | None = None
        self._job: tuple = ()

    @property
    def busy(self) -> bool:
        return self.task is not None

    def _start(self, job: tuple, fn, what: str, cancellable: bool = False) -> None:
        self._job = job
        self.cancellable = cancellable
        self.task = Task(fn, self)
        self.task.progressed.connect(self.progressed)
        self.task.done.connect(self._on_done)
        self.task.start()
        self.started.emit(what)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel_event.set()

    def stop(self, timeout_ms: int = 10000) -> None:
        """Cancel and wait (closing a window)."""
        if self.task is not None:
            self.task.cancel_event.set()
            self.task.wait(timeout_ms)

    # ---------------- jobs ----------------
    def download(self, card) -> bool:
        """Start downloading `card`; False when the licence was declined or a job is running."""
        from annotator.engines import download

        if self.busy:
            return False
        accept = False
        notice = download.licence_notice(card)
        if notice and not download.licence_accepted(card):
            if not gui_errors.ask(self.widget, notice + "\n\nAccept and download?", "Licence"):
                return False
            accept = True

        def run(progress, cancel):
            path = download.download_card(card, progress=progress, cancel=cancel, accept_licence=accept,
                                          keep_mismatch=True)
            return f"Installed {card.name}: {path}"

        self._start(("download", card), run,
                    f"Downloading {card.name}… (Cancel keeps the partial file; the next try resumes)", True)
        return True

    def import_file(self, card, file, allow_checksum_mismatch: bool = False) -> None:
        def run(progress, cancel):
            from annotator.app import models

            result = models.import_file(card.name, file, allow_checksum_mismatch)
            return " ".join([result.summary(card.name)] + [f"warning: {w}" for w in result.warnings])

        self._start(("import", card, file), run, f"Checking and importing {Path(file).name}…")

    def verify(self, card) -> None:
        def run(progress, cancel):
            from annotator.app import models
            from annotator.engines.download import ChecksumError

            v = models.verify(card, progress=progress, cancel=cancel)
            if v is None:
                raise CheckpointError(f"{card.name}: the checkpoint is gone")
            if v.verdict == "ok":
                return f"{card.name}: OK — matches the published sha256"
            if v.verdict == "mismatch":
                raise ChecksumError(f"{v.path}: sha256 {v.digest[:16]}… does not match the published "
                                    f"{v.published[:16]}…")
            return f"{card.name}: {v.verdict}, nothing to compare with (file sha256 {v.digest[:16]}…)"

        self._start(("verify", card), run, f"Verifying {card.name}…", True)

    def _keep(self, card, kept: Path) -> None:
        def run(progress, cancel):
            from annotator.app import models

            result = models.keep_mismatched(card, kept)
            return " ".join([result.summary(card.name)] + [f"warning: {w}" for w in result.warnings])

        self._start(("keep", card), run, f"Installing {kept.name} as {card.name}…")

    # ---------------- results ----------------
    def _on_done(self, ok: bool, msg: str, exc) -> None:
        self.task.wait()
        self.task = None
        job, self._job = self._job, ()
        from annotator.engines.download import ChecksumError, DownloadCancelled

        if not ok and isinstance(exc, ChecksumError) and job and job[0] in ("download", "import", "verify"):
            if self._settle_mismatch(job, exc):
                return  # another job started; its end reports
        elif not ok and exc is not None and not isinstance(exc, DownloadCancelled):
            gui_errors.show_error(self.widget, exc, "Model manager")
        self.last_result = (ok, msg)
        self.finished.emit(ok, msg)

    def _settle_mismatch(self, job: tuple, exc) -> bool:
        """Ask what to do; True when that started a new job."""
        from annotator.app import models

        kind, card = job[0], job[1]
        if kind == "import":
            answer = checksum_choice.ask(self.widget, str(exc), keep_text="Install anyway",
                                         redownload_text="Download the published file")
            if answer == checksum_choice.KEEP:
                self.import_file(card, job[2], allow_checksum_mismatch=True)
                return True
            return answer == checksum_choice.REDOWNLOAD and self.download(card)
        answer = checksum_choice.ask(self.widget, str(exc))
        kept = getattr(exc, "kept", None)
        if kind == "download" and kept is not None:
            if answer == checksum_choice.KEEP:
                self._keep(card, kept)
                return True
            Path(kept).unlink(missing_ok=True)
        elif kind == "verify" and answer == checksum_choice.REDOWNLOAD:
            models.delete_installed(card)
        return answer == checksum_choice.REDOWNLOAD and self.download(card)
