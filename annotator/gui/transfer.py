"""Export and import without blocking the window (Qt side).

The work itself (annotator.app.transfer) runs in a child process with its own read-only
connection to the project file - the GUI thread's connection stays the GUI thread's, and a
read-only connection takes no process lock (docs/STORE.md). A TransferThread starts the
child, relays its progress and result as signals, and passes Cancel on. Where no child can be
started (a frozen build), the same work runs in the thread instead.

ImportApplier then replays a validated import on the GUI thread, a few commands per
event-loop turn, inside ONE undo group; if it fails or is cancelled half way, that group is
undone, so the project is left as it was.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from annotator.core.model import Prompts
from annotator.errors import AnnotatorError, FormatError
from annotator.app.transfer import ImportRecord, TransferCancelled, do_work

log = logging.getLogger(__name__)

APPLY_SLICE_S = 0.008  # GUI-thread time per event-loop turn while applying an import
CHILD_NICE = 10


class TransferThread(QThread):
    """Runs one export or import planning (a transfer_work spec) and answers with one signal:
    succeeded(summary str | ImportRecord), failed(exception) or cancelled()."""

    progressed = Signal(int, int)  # done, total (0 = unknown)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()

    def __init__(self, spec: dict, parent=None, in_process: bool | None = None):
        super().__init__(parent)
        self.spec = dict(spec)
        self.mode = spec["mode"]
        self.in_process = getattr(sys, "frozen", False) if in_process is None else in_process
        self._cancel = threading.Event()
        self._proc = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                try:
                    self._proc.stdin.write("cancel\n")
                    self._proc.stdin.flush()
                except OSError:  # it just ended
                    pass

    def run(self) -> None:
        from annotator.gui.threads import lower_current_thread_priority

        lower_current_thread_priority()
        threading.current_thread().name = f"{self.mode}-thread"
        try:
            result = self._run_in_process() if self.in_process else self._run_child()
            if result is None:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        except TransferCancelled:
            self.cancelled.emit()
        except Exception as e:  # reported to the GUI thread, which shows a one-line dialog
            log.info("%s failed: %r", self.mode, e, exc_info=not isinstance(e, AnnotatorError))
            self.failed.emit(e)

    def _run_in_process(self):
        from annotator.core.store import Project

        ro = Project.open(self.spec["project"], readonly=True)
        try:
            summary, record = do_work(self.spec, ro, self._cancel, self.progressed.emit)
        finally:
            ro.close()
        return summary if record is None else record

    def _run_child(self):
        with tempfile.TemporaryFile("w+", prefix="annotator-transfer-", suffix=".log") as err:
            proc = subprocess.Popen([sys.executable, "-m", "annotator.app.transfer"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, text=True, encoding="utf-8")
            with self._lock:
                self._proc = proc
            if hasattr(os, "setpriority"):  # the window's threads come first, as with our own threads
                try:
                    os.setpriority(os.PRIO_PROCESS, proc.pid, CHILD_NICE)
                except OSError:
                    pass
            try:
                proc.stdin.write(json.dumps(self.spec) + "\n")
                proc.stdin.flush()
                if self._cancel.is_set():
                    self.cancel()
                return self._read(proc, err)
            finally:
                with self._lock:
                    self._proc = None
                try:
                    proc.stdin.close()
                except OSError:
                    pass
                if proc.wait(timeout=30) is None:  # pragma: no cover
                    proc.kill()

    def _read(self, proc, err):
        record = ImportRecord()
        for line in proc.stdout:  # blocking reads release the GIL; each line is small
            msg = json.loads(line)
            if "progress" in msg:
                self.progressed.emit(*msg["progress"])
            elif "op" in msg:
                kind, fake, payload = msg["op"]
                if kind == "masks" and record.ops and record.ops[-1][0] == "masks" and record.ops[-1][1] == fake:
                    record.ops[-1][2].extend(payload)  # one recorded call sent in several lines
                else:
                    record.ops.append((kind, fake, payload))
            elif "result" in msg:
                r = msg["result"]
                if "summary" in r:
                    return r["summary"]
                record.label, record.masks, record.tracks, record.items = r["label"], r["masks"], r["tracks"], r["items"]
                return record
            elif "cancelled" in msg:
                return None
            elif "error" in msg:
                raise _error(msg["error"])
        proc.wait()
        err.seek(0)
        tail = err.read()[-2000:].strip().splitlines()
        raise RuntimeError(f"the {self.mode} process ended unexpectedly (exit code {proc.returncode})"
                           + (f": {tail[-1]}" if tail else ""))


def _error(e: dict) -> Exception:
    """The child's exception again: a user mistake keeps its class and one-line message."""
    import annotator.errors as errors

    cls = getattr(errors, e.get("type", ""), None)
    if isinstance(cls, type) and issubclass(cls, AnnotatorError):
        return cls(e.get("message", ""))
    return RuntimeError(f"{e.get('type')}: {e.get('message')}")


class ImportApplier(QObject):
    """Replays an ImportRecord into the project on the GUI thread as ONE undo step, a slice
    per event-loop turn so the window keeps painting; undone again if it fails or is
    cancelled half way."""

    progressed = Signal(int, int)
    finished = Signal(str, object)  # "done" | "cancelled" | "error", exception or None

    def __init__(self, project, record: ImportRecord, parent=None):
        super().__init__(parent)
        self.project = project
        self.record = record
        self._steps = self._plan_steps()
        self._i = 0
        self._ids: dict[int, int] = {}
        self._group = None
        self._wrote = False
        self._cancel = False
        self._done_masks = 0
        self._offset = 0  # into the masks step being applied
        self._batch = 50  # masks per command, adapted so one command fits in APPLY_SLICE_S
        self._timer = QTimer(self, interval=0, timeout=self._tick)

    def _plan_steps(self) -> list:
        return [(kind, fake, payload) for kind, fake, payload in self.record.ops if kind != "masks" or payload]

    def start(self) -> None:
        self._group = self.project.group(self.record.label)
        self._group.__enter__()
        self._timer.start()

    def cancel(self) -> None:
        self._cancel = True

    @property
    def running(self) -> bool:
        return self._group is not None

    def _id(self, v):
        return self._ids.get(v, v) if isinstance(v, int) and v < 0 else v

    def _apply(self, kind, fake, p) -> bool:
        """Apply one step (or, for masks, one batch of it); True when the step is done."""
        proj = self.project
        if kind == "category":
            existing = proj.category_by_name(p["name"])
            if existing is not None:
                self._ids[fake] = existing.id
                return True  # nothing written: must not count as a write (undo would hit an older step)
            self._ids[fake] = proj.add_category(p["name"], color=p["color"], supercategory=p["supercategory"] or "",
                                                meta=p.get("meta") or None).id
        elif kind == "item":
            self._ids[fake] = proj.add_item(p["path"], p["kind"], p["width"], p["height"], p["num_frames"],
                                            p["fps"], name=p["name"], meta=p["meta"]).id
        elif kind == "item_meta":
            proj.update_item_meta(self._id(p["item_id"]), p["meta"])
        elif kind == "track":
            self._ids[fake] = proj.add_track(self._id(p["item_id"]), category_id=self._id(p["category_id"]),
                                             color=p["color"], attributes=p["attributes"] or None,
                                             obj_id=p["obj_id"]).id
        elif kind == "masks":
            part = p[self._offset:self._offset + self._batch]
            entries = [dict(e, track_id=self._id(e["track_id"]),
                            prompts=Prompts.from_json(e["prompts"]) if isinstance(e.get("prompts"), str)
                            else e.get("prompts")) for e in part]
            t0 = time.perf_counter()
            proj.set_masks(entries, label=self.record.label)
            per_mask = (time.perf_counter() - t0) / len(entries)
            # One command (a transaction and its fsync) per batch: as many masks as fit in a slice.
            self._batch = int(min(2000, max(10, APPLY_SLICE_S / max(per_mask, 1e-6))))
            self._done_masks += len(entries)
            self._offset += len(entries)
            self._wrote = True
            return self._offset >= len(p)
        self._wrote = True
        return True

    def _tick(self) -> None:
        if self._cancel:
            self._end("cancelled", None)
            return
        t0 = time.perf_counter()
        try:
            while self._i < len(self._steps) and time.perf_counter() - t0 < APPLY_SLICE_S:
                if self._apply(*self._steps[self._i]):  # False: a masks step with more to go
                    self._i += 1
                    self._offset = 0
        except Exception as e:
            self._end("error", e)
            return
        self.progressed.emit(self._done_masks, self.record.masks)
        if self._i >= len(self._steps):
            self._end("done", None)

    def _end(self, status: str, exc) -> None:
        self._timer.stop()
        group, self._group = self._group, None
        if group is not None:
            group.__exit__(None, None, None)
        if status != "done" and self._wrote:
            try:
                self.project.undo()  # the group is one step: the project is as it was
            except Exception:  # pragma: no cover - the original error matters more
                log.exception("could not undo a half-applied import")
        if status == "error" and not isinstance(exc, AnnotatorError):
            exc = FormatError(f"import failed and was undone ({type(exc).__name__}: {exc})")
        self.finished.emit(status, exc)
