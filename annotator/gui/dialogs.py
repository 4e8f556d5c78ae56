"""Small dialogs: export, import (their work runs in annotator.gui.transfer), frame range, keyboard shortcuts."""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.gui import errors as gui_errors
from annotator.gui.settings import DEFAULT_SHORTCUTS, LABEL_DIGITS, Settings, settings_path

log = logging.getLogger(__name__)


class FrameRangeDialog(QDialog):
    """Pick an inclusive frame range; frames are numbered from 0, as on the timeline and in exports."""

    def __init__(self, num_frames: int, current: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Delete masks in a frame range")
        self.first = QSpinBox(self)
        self.last = QSpinBox(self)
        for s in (self.first, self.last):
            s.setRange(0, max(0, num_frames - 1))
        self.first.setValue(current)
        self.last.setValue(num_frames - 1)
        form = QFormLayout(self)
        form.addRow("First frame", self.first)
        form.addRow("Last frame", self.last)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        form.addRow(bb)

    def range(self) -> tuple[int, int]:
        a, b = sorted((self.first.value(), self.last.value()))
        return a, b


class _FormatDialog(QDialog):
    """Shared layout: a format list, a path with Browse, and one field per format option."""

    mode = "export"

    def __init__(self, project, parent=None):
        super().__init__(parent)
        from annotator.formats.registry import list_formats

        self.project = project
        flag = "can_export" if self.mode == "export" else "can_import"
        self.formats = [f for f in list_formats() if getattr(f, flag, True)]
        self.fmt_combo = QComboBox(self)
        for f in self.formats:
            desc = getattr(f, "description", "")
            self.fmt_combo.addItem(f"{f.name} — {desc}" if desc else f.name, f.name)
        self.path_edit = QLineEdit(self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row = QWidget(self)
        rl = QHBoxLayout(row)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.path_edit, 1)
        rl.addWidget(browse)
        self.options_box = QWidget(self)
        self.options_form = QFormLayout(self.options_box)
        self.option_edits: dict[str, QLineEdit] = {}
        self.form = QFormLayout()
        self.form.addRow("Format", self.fmt_combo)
        self.form.addRow("File or folder", row)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addWidget(QLabel("Options (leave empty for the default)", self))
        lay.addWidget(self.options_box)
        self.extra_box = QWidget(self)
        self.extra = QVBoxLayout(self.extra_box)
        self.extra.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.extra_box)
        # The work runs in a thread; the dialog (not modal) shows its progress and the
        # window behind it stays usable.
        self.progress = QProgressBar(self)
        self.progress.hide()
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.hide()
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.job = None
        self.applier = None
        self._close_when_idle = False
        self._shut = False
        self.last_status = ""
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = bb.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.mode.capitalize())
        bb.accepted.connect(self._run)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)
        self.fmt_combo.currentIndexChanged.connect(self._format_changed)
        last = project.get_state(f"gui.{self.mode}", {}) or {}
        # the last path used with each format: changing the format never keeps another format's path
        self._paths = dict(last.get("paths") or {})
        if last.get("format") and last.get("path"):
            self._paths.setdefault(last["format"], last["path"])
        if last.get("format"):
            i = self.fmt_combo.findData(last["format"])
            if i >= 0:
                self.fmt_combo.setCurrentIndex(i)
        self._format_changed()
        for k, v in (last.get("options") or {}).items():
            if k in self.option_edits:
                self.option_edits[k].setText(str(v))
        self.resize(560, 320)

    @property
    def fmt(self):
        return self.formats[self.fmt_combo.currentIndex()] if self.formats else None

    def _format_changed(self) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self.option_edits = {}
        f = self.fmt
        if f is None:
            return
        self.path_edit.setText(self._paths.get(f.name) or self.suggested_path(f))
        opts = getattr(f, f"{self.mode}_options", None)
        if opts is None:
            opts = getattr(f, "options", None) or {}
        for name, help_text in opts.items():
            e = QLineEdit(self.options_box)
            e.setPlaceholderText(str(help_text))
            e.setToolTip(str(help_text))
            self.options_form.addRow(name, e)
            self.option_edits[name] = e

    def suggested_path(self, f) -> str:
        """Export: <project>_<format><ext> beside the project (a folder for folder formats);
        import: nothing to suggest."""
        if self.mode != "export":
            return ""
        p = Path(self.project.path)
        exts = getattr(f, "extensions", None) or ()
        return str(p.parent / f"{p.stem}_{f.name}{exts[0] if exts else ''}")

    def _browse(self) -> None:
        f = self.fmt
        exts = [e if e.startswith(".") else "." + e for e in (getattr(f, "extensions", None) or [])]
        start = self.path_edit.text() or str(Path(self.project.path).parent)
        if not exts:
            p = QFileDialog.getExistingDirectory(self, "Folder", start)
        elif self.mode == "export":
            p, _ = QFileDialog.getSaveFileName(self, "Export to", start, f"{f.name} ({' '.join('*' + e for e in exts)})")
        else:
            p, _ = QFileDialog.getOpenFileName(self, "Import from", start,
                                               f"{f.name} ({' '.join('*' + e for e in exts)});;All files (*)")
        if p:
            self.path_edit.setText(p)

    def options(self) -> dict:
        # The formats parse option strings themselves (the CLI passes strings too).
        return {k: e.text().strip() for k, e in self.option_edits.items() if e.text().strip()}

    # ---------------------------------------------------------------- running (off the GUI thread)
    @property
    def busy(self) -> bool:
        return self.job is not None or (self.applier is not None and self.applier.running)

    def _set_busy(self, on: bool, text: str = "") -> None:
        for w in (self.fmt_combo, self.path_edit, self.options_box, self.extra_box):
            w.setEnabled(not on)
        self.ok_button.setEnabled(not on)
        self.progress.setVisible(on)
        self.status.setText(text)
        self.status.setVisible(bool(text))
        if on:
            self.progress.setRange(0, 0)  # busy until the first count arrives

    def _run(self) -> None:
        if self.busy:
            return
        f = self.fmt
        path = self.path_edit.text().strip()
        if f is None or not path:
            gui_errors.show_info(self, "Choose a format and a file or folder.")
            return
        from annotator.gui.transfer import TransferThread

        target = Path(path)
        if self.mode == "export" and target.exists() and (target.is_file() or any(target.iterdir())):
            what = "file" if target.is_file() else "folder (files in it may be replaced)"
            if not gui_errors.ask(self, f"{target} exists. Replace this {what} with the {f.name} export?",
                                  "Replace?"):
                return
        spec = dict(mode=self.mode, project=str(self.project.path), format=f.name, path=path, opts=self.options())
        spec.update(self.prepare())  # reads widgets here, on the GUI thread
        self._ran = (f, path)
        self._close_when_idle = False
        self.job = TransferThread(spec, self)
        self.job.progressed.connect(self._on_progress)
        self.job.succeeded.connect(self._on_job_done)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self._set_busy(True, f"{'Exporting' if self.mode == 'export' else 'Reading and checking'} {Path(path).name}…")
        self.job.start()

    def _on_progress(self, done: int, total: int) -> None:
        if self._shut:
            return
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))

    def _on_job_done(self, result) -> None:
        if self._shut:
            return
        self._end_job()
        if self.mode == "import" and self._close_when_idle:
            self._on_cancelled()  # Cancel came while the last line was on its way: apply nothing
            return
        self.finish(result)

    def _end_job(self) -> None:
        if self.job is not None:
            self.job.wait()
            self.job.deleteLater()
            self.job = None

    def _on_failed(self, exc) -> None:
        if self._shut:
            return
        self._end_job()
        self._set_busy(False)
        gui_errors.show_error(self, exc, f"{self.mode.capitalize()} failed")
        if self._close_when_idle:
            self.reject()

    def _on_cancelled(self) -> None:
        if self._shut:
            return
        self._end_job()
        self._set_busy(False, f"{self.mode.capitalize()} cancelled: nothing was "
                              f"{'written' if self.mode == 'export' else 'changed'}.")
        self.last_status = "cancelled"
        if self._close_when_idle:
            self.reject()

    def _succeeded(self, summary: str) -> None:
        f, path = self._ran
        self._set_busy(False)
        try:
            self._paths[f.name] = path
            self.project.set_state(f"gui.{self.mode}", {"format": f.name, "path": path, "paths": self._paths,
                                                       "options": {k: e.text() for k, e in self.option_edits.items()}})
        except Exception as e:
            log.info("could not remember %s options: %s", self.mode, e)
        self.result_text = summary
        self.last_status = "done"
        if summary:
            gui_errors.show_info(self, summary)
        self.accept()

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")
        elif self.applier is not None and self.applier.running:
            self.applier.cancel()
            self.status.setText("Cancelling…")

    def reject(self) -> None:
        # Cancel (or closing the dialog) while working stops the work; the dialog closes
        # once the thread has let go of the project file.
        if self.busy:
            self._close_when_idle = True
            self.cancel_job()
            return
        super().reject()

    def shutdown(self) -> None:
        """The window or its project is closing: stop and wait, so no thread outlives the
        project, and ignore whatever the thread still had on its way."""
        self._close_when_idle = True
        self.cancel_job()
        if self.job is not None:
            self.job.wait(30000)
        self._shut = True
        self.job = None
        if self.applier is not None and self.applier.running:
            self.applier.cancel()
            self.applier._tick()  # undoes what it applied

    def prepare(self) -> dict:
        """More fields for the work's spec (annotator.app.transfer)."""
        return {}

    def finish(self, result) -> None:
        raise NotImplementedError


class ExportDialog(_FormatDialog):
    mode = "export"

    def __init__(self, project, current_item: int | None = None, parent=None):
        self.current_item = current_item
        super().__init__(project, parent)
        self.setWindowTitle("Export annotations")
        self.only_current = QCheckBox("Only the current image/video", self)
        self.only_current.setEnabled(current_item is not None)
        self.extra.addWidget(self.only_current)

    def prepare(self) -> dict:
        ids = [self.current_item] if self.only_current.isChecked() and self.current_item is not None else None
        return {"item_ids": ids}

    def finish(self, summary) -> None:
        self._succeeded(summary)


class ImportDialog(_FormatDialog):
    mode = "import"

    def __init__(self, project, parent=None):
        super().__init__(project, parent)
        self.setWindowTitle("Import annotations")

    def finish(self, record) -> None:
        from annotator.gui.transfer import ImportApplier

        f, path = self._ran
        if not record.ops:
            self._succeeded(f"Nothing to import from {path}.")
            return
        self.record = record
        self._set_busy(True, f"Adding {record.masks} mask(s) of {record.tracks} object(s)…")
        self.progress.setRange(0, max(1, record.masks))
        self.applier = ImportApplier(self.project, record, self)
        self.applier.progressed.connect(self._on_progress)
        self.applier.finished.connect(self._on_applied)
        self.applier.start()

    def _on_applied(self, status: str, exc) -> None:
        f, path = self._ran
        if status == "done":
            r = self.record
            notes = "".join(f"\n{n}" for n in getattr(r, "notes", []) or [])  # skipped/converted, counted
            self._succeeded(f"Imported {f.name} from {path}: {r.items} new item(s), {r.tracks} object(s), "
                            f"{r.masks} mask(s).{notes}")
        elif status == "cancelled":
            self._on_cancelled()
        else:
            self._on_failed(exc)


class ShortcutsDialog(QDialog):
    def __init__(self, settings: Settings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(desc, ", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)
                                  for k in settings.shortcut(a)))
                for a, (_, desc) in DEFAULT_SHORTCUTS.items()]
        rows += [("Pick label 1–9 (in list order)", " ".join(LABEL_DIGITS[:1]) + "–" + LABEL_DIGITS[-1]),
                 ("Positive point", "Left click"), ("Negative point", "Right click or Shift+click"),
                 ("Box prompt", "Drag with the left button"), ("Pan", "Space+drag or middle button"),
                 ("Zoom", "Mouse wheel")]
        table = QTableWidget(len(rows), 2, self)
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (desc, keys) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(desc))
            table.setItem(i, 1, QTableWidgetItem(keys))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        self.table = table
        note = QLabel(f"Change them in the <code>shortcuts:</code> section of <code>{settings_path()}</code> "
                      "(restart to apply).", self)
        note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note.setWordWrap(True)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        bb.rejected.connect(self.reject)
        bb.accepted.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.addWidget(table)
        lay.addWidget(note)
        lay.addWidget(bb)
        self.resize(560, 640)
