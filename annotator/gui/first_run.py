"""The first-run screen: with no learned model installed, a panel above the canvas says so and
offers, one click each, the model that fits this machine for images and for video (size,
licence and what it gives, from the cards: app.models.first_run_offers), downloading through
the model manager's jobs (gui.model_jobs: licence question, progress, cancel, checksum choice);
and a "Try it on a sample" button that opens a picture shipped in resources/.
"""
from __future__ import annotations

import shutil

from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from annotator.gui import errors as gui_errors
from annotator.gui.model_jobs import ModelJobs, Task

SAMPLE = "samples/groceries.jpg"  # resources/README.md says where it comes from
HIDDEN_KEY = "first_run_hidden"  # settings: the person closed the panel


class FirstRunPanel(QFrame):
    """Shown in a window opened without media while no learned engine is installed (checked off
    the GUI thread), until a download succeeds or the person hides it."""

    def __init__(self, win, opened_empty: bool = True):
        super().__init__(win)
        self.win = win
        self.setObjectName("firstRun")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel("<b>No learned model is installed</b>", self)
        self.intro = QLabel("Clicks and boxes now use the classic engine (OpenCV, no weights). A learned "
                            "model gives far better masks. One click downloads it and switches to it:", self)
        self.intro.setWordWrap(True)
        self.offer_box = QVBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.hide()
        self.btn_cancel = QPushButton("Cancel download", self)
        self.btn_cancel.hide()
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.btn_sample = QPushButton("Try it on a sample", self)
        self.btn_sample.setToolTip("Open a sample photo to click on")
        self.btn_models = QPushButton("All models…", self)
        self.btn_hide = QPushButton("Hide", self)
        self.btn_hide.setToolTip("Keep using the classic engine; Models > Model manager installs models later")
        bottom = QHBoxLayout()
        bottom.addWidget(self.btn_sample)
        bottom.addWidget(self.btn_models)
        bottom.addStretch(1)
        bottom.addWidget(self.btn_hide)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.intro)
        lay.addLayout(self.offer_box)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.btn_cancel)
        lay.addLayout(prog)
        lay.addWidget(self.status)
        lay.addLayout(bottom)
        self.offers: list = []
        self.buttons: dict[str, QPushButton] = {}  # card name -> its download button
        self.chosen: str | None = None  # the card being downloaded
        self.jobs = ModelJobs(self)
        self.jobs.started.connect(self._on_started)
        self.jobs.progressed.connect(self._on_progress)
        self.jobs.finished.connect(self._on_finished)
        self.btn_cancel.clicked.connect(self.cancel)
        self.btn_sample.clicked.connect(self.open_sample)
        self.btn_models.clicked.connect(win.engines.manager_dialog)
        self.btn_hide.clicked.connect(self.dismiss)
        self.hide()
        win.centralWidget().layout().insertWidget(0, self)
        self.checked = False  # the offers have been looked up
        self._lister: Task | None = None
        if opened_empty and not win.settings.get(HIDDEN_KEY, False):
            self.check()

    # ---------------- offers ----------------
    def check(self) -> None:
        """Look up the offers in a thread (reads the cards); shows the panel when there are any."""
        def run(progress, cancel):
            from annotator.app import models

            return list(models.first_run_offers())  # a list: Task keeps it in .rows

        self._lister = Task(run, self)
        self._lister.done.connect(self._on_checked)
        self._lister.start()

    def _on_checked(self, ok: bool, msg: str, exc) -> None:
        offers = getattr(self._lister, "rows", []) if ok else []
        self._lister.wait()
        self._lister = None
        self.checked = True
        if not ok:
            gui_errors.show_error(self.win, exc, "Models")
        self.offers = offers
        for o in offers:
            self._add_offer(o)
        self.setVisible(bool(offers) and not self.win.closed)

    def _add_offer(self, o) -> None:
        row = QHBoxLayout()
        what = "images" if o.kind == "image" else "video"
        text = QLabel(f"<b>{o.card.title}</b> for {what}: {o.gives} · {o.size} · licence {o.licence}", self)
        text.setWordWrap(True)
        btn = QPushButton(f"Download {o.card.title}", self)
        btn.setToolTip(f"Download {o.card.file} and use it")
        btn.clicked.connect(lambda _=False, c=o.card: self.download(c))
        row.addWidget(text, 1)
        row.addWidget(btn)
        self.offer_box.addLayout(row)
        self.buttons[o.card.name] = btn

    # ---------------- download ----------------
    def download(self, card) -> None:
        if self.jobs.download(card):
            self.chosen = card.name

    def cancel(self) -> None:
        self.jobs.cancel()
        self.status.setText("Cancelling…")

    def _on_started(self, what: str) -> None:
        for b in self.buttons.values():
            b.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.btn_cancel.setVisible(self.jobs.cancellable)
        self.status.setText(what)

    def _on_progress(self, done, total) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.1f} / {total / 1e6:.1f} MB")

    def _on_finished(self, ok: bool, msg: str) -> None:
        self.progress.hide()
        self.btn_cancel.hide()
        for b in self.buttons.values():
            b.setEnabled(True)
        self.status.setText(msg)
        if ok and self.chosen:
            name, self.chosen = self.chosen, None
            self.win.engines.refresh()
            self.win.engines.set_engine(name)
            self.win.statusBar().showMessage(f"{name} installed and selected", 8000)
            self.hide()

    # ---------------- sample, hide ----------------
    def open_sample(self) -> None:
        """Open a copy of the sample in the user's data folder: the app's own folder may be
        read-only, and a project file is written beside the media."""
        from annotator import paths

        src = paths.resource(SAMPLE)
        dest = paths.data_dir() / "samples" / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.is_file():
            shutil.copy2(src, dest)
        self.win.projects.open_paths([str(dest)])

    def dismiss(self) -> None:
        self.win.settings[HIDDEN_KEY] = True
        self.hide()

    def shutdown(self) -> None:
        if self._lister is not None:
            self._lister.wait(30000)
        self.jobs.stop()
