"""The review queue in the window: a dock listing the current video's flagged frames (highest
score first), marks on the timeline lanes, next/previous flagged frame and "mark reviewed".

The rules live in app/review.py; this module decides when to recompute: after store changes
that touch masks or objects (debounced), when the shown video changes, and once a propagation
or an import has finished (not while it streams in: the run is still changing every frame).
Recomputing decodes the frames whose signals are stale - about a second for an 80-frame track
after a correction - so it runs in a background thread on its own read-only connection; the
GUI thread only stores the rows it found and redraws (well under a millisecond).
"""
from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from annotator.app import review
from annotator.errors import AnnotatorError
from annotator.gui.timeline import severity_color

log = logging.getLogger(__name__)

DEBOUNCE_MS = 400  # store changes closer together than this are one recompute
WAIT_MS = 500  # how often to look again while a propagation or an import is writing
SHOW_WHILE_BUSY_MS = 300
RECOMPUTE_TABLES = {"masks", "tracks"}
SHOWN_TABLES = RECOMPUTE_TABLES | {"reviewed"}


class ReviewPanel(QWidget):
    """The list: object, frame, score, why. Emits flagChosen(track_id, frame) on a click."""

    flagChosen = Signal(int, int)
    COLUMNS = ("Object", "Frame", "Score", "Why")

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.summary = QLabel("No video", self)
        self.summary.setWordWrap(True)
        self.summary.setToolTip("Frames where the masks probably drifted, most suspect first (robust graphical "
                                "lasso over each frame's signals). Click one to go there; G / Shift+G: next / "
                                "previous flagged frame; R: mark reviewed (Ctrl+Z undoes it).")
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(self.COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys stay with the canvas
        self.tree.itemClicked.connect(self._clicked)
        head = self.tree.header()
        head.setStretchLastSection(True)
        for col, width in ((0, 48), (1, 48), (2, 56)):
            self.tree.setColumnWidth(col, width)
        lay.addWidget(self.summary)
        lay.addWidget(self.tree, 1)
        self.rows: list[tuple[int, int]] = []  # (track_id, frame) per row, in list order

    def set_flags(self, flags, sev: dict, summary: str) -> None:
        self.summary.setText(summary)
        self.tree.clear()
        self.rows = []
        for f in flags:
            why = review.reasons_text(f) or "no one signal: their combination"
            it = QTreeWidgetItem([str(f.obj_id), str(f.frame), f"{f.score:.3g}", why])
            it.setData(0, Qt.ItemDataRole.UserRole, (f.track_id, f.frame))
            it.setForeground(2, severity_color(sev.get((f.track_id, f.frame), 1.0)).darker(130))
            it.setToolTip(3, "\n".join(f"{review.FEATURE_WORDS.get(n, n)}: {z:+.1f} robust SD" for n, z in f.reasons)
                          or "no single signal stands out; the combination does")
            self.tree.addTopLevelItem(it)
            self.rows.append((f.track_id, f.frame))

    def select(self, track_id: int | None, frame: int) -> None:
        """Highlight the row of the frame on screen (without emitting flagChosen)."""
        self.tree.blockSignals(True)
        self.tree.clearSelection()
        key = (track_id, frame)
        if key in self.rows:
            it = self.tree.topLevelItem(self.rows.index(key))
            it.setSelected(True)
            self.tree.scrollToItem(it)
        self.tree.blockSignals(False)

    def _clicked(self, item, _col) -> None:
        tid, frame = item.data(0, Qt.ItemDataRole.UserRole)
        self.flagChosen.emit(int(tid), int(frame))


class ReviewController(QObject):
    """Owns the queue of the shown video. The window calls on_store_change for every store
    event; actions call next_flagged / previous_flagged / toggle_reviewed."""

    computed = Signal(int, object)  # generation, ItemQueue (from the background thread)
    failed = Signal(int, object)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.panel: ReviewPanel = win.review_panel
        self.queue: review.ItemQueue | None = None
        self.shown: list = []  # the flags on screen, highest score first
        self.computing = False
        self.computes = 0  # finished recomputes (tests wait on it)
        self._gen = 0
        self._key = None  # (project path, item id) the queue belongs to
        self._dirty = False
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS, timeout=self._recompute)
        self._show_timer = QTimer(self, singleShot=True, timeout=self.show_flags)
        self.computed.connect(self._on_computed)
        self.failed.connect(self._on_failed)
        self.panel.flagChosen.connect(self.go_to)
        win.loader.frameLoaded.connect(self._on_frame_shown)
        win.worker.jobFinished.connect(lambda *_: self.schedule())  # a propagation ended

    # ---------------- when to recompute ----------------
    def _current_key(self):
        w = self.win
        if w.project is None or w.item is None or w.item.kind == "image":
            return None
        return (str(w.project.path), w.item.id)

    def _sync_key(self) -> bool:
        """Follow the shown video: another video or project has its own queue. True if it changed."""
        key = self._current_key()
        if key == self._key:
            return False
        self._key, self.queue, self.shown = key, None, []
        self._gen += 1  # a result still on its way belongs to the previous video
        self.show_flags()
        return True

    def _on_frame_shown(self, *_args) -> None:
        if self._sync_key():
            self.schedule(0)
        self.panel.select(self.win.active_track, self.win.frame)

    def on_store_change(self, event: str, payload: dict) -> None:
        tables = payload.get("tables", set())
        if tables & RECOMPUTE_TABLES:
            self.schedule()
        if tables & SHOWN_TABLES:  # marks, corrections and deletions show without a recompute:
            # at the next event-loop turn (one redraw per burst of commands), a few times a
            # second while a propagation or an import streams in
            if not self._show_timer.isActive():
                self._show_timer.start(SHOW_WHILE_BUSY_MS if self.win.editing.edits_wait() else 0)

    def schedule(self, delay: int = DEBOUNCE_MS) -> None:
        self._dirty = True
        self._timer.start(delay)

    def _recompute(self) -> None:
        self._sync_key()
        key = self._key
        if key is None or self.win.closed:
            return
        if self.win.editing.edits_wait() or self.computing:  # a run is writing, or one compute at a time
            self._timer.start(WAIT_MS)
            return
        self._dirty = False
        self.computing = True
        self._gen += 1
        gen = self._gen
        self.panel.summary.setText(self.panel.summary.text().split(" (updating")[0] + " (updating…)")
        threading.Thread(target=self._work, args=(gen, key), name="review-queue", daemon=True).start()

    def _work(self, gen: int, key) -> None:  # in the background thread: no widgets, no window state
        from annotator.gui.threads import lower_current_thread_priority

        lower_current_thread_priority()
        try:
            result = review.compute(key[0], key[1])
        except Exception as e:  # shown in the panel; the queue is a help, never an obstacle
            log.info("review queue failed: %r", e, exc_info=not isinstance(e, AnnotatorError))
            self._emit(self.failed, gen, e)
            return
        self._emit(self.computed, gen, result)

    @staticmethod
    def _emit(sig, gen, value) -> None:
        try:
            sig.emit(gen, value)
        except RuntimeError:  # the window went away meanwhile
            pass

    def _on_computed(self, gen: int, iq) -> None:
        self.computing = False
        self.computes += 1
        w = self.win
        if w.closed:
            return
        self._sync_key()
        if gen != self._gen or self._key is None:  # superseded (another video, or asked again)
            self._dirty = self._key is not None
        else:
            if not w.editing.edits_wait():  # never inside a run's or an import's undo group
                try:
                    review.store_signals(w.project, iq)
                except AnnotatorError as e:  # a read-only project: the queue still shows
                    log.info("review signals not stored: %s", e)
            self.queue = iq
            self.show_flags()
        if self._dirty:
            self.schedule()

    def _on_failed(self, gen: int, exc) -> None:
        self.computing = False
        self.computes += 1
        self.panel.summary.setText(f"Review queue not available: {exc}")
        if self._dirty:
            self.schedule()

    # ---------------- showing ----------------
    def show_flags(self) -> None:
        w = self.win
        if self._key is None or w.project is None or self._current_key() != self._key:
            self.shown = []
            self.panel.set_flags([], {}, "No video" if self._current_key() is None else "Review queue: computing…")
            w.timeline.set_review_marks({}, {})
            return
        self.shown = review.visible(w.project, self.queue)
        sev = review.severity(self.shown)
        if self.queue is None:
            text = "Review queue: computing…"
        elif not self.queue.scored:
            text = "No masks to review yet."
        else:
            text = f"{len(self.shown)} of {self.queue.scored} frames flagged"
        self.panel.set_flags(self.shown, sev, text)
        self.panel.select(w.active_track, w.frame)
        marks: dict = {}
        for f in self.shown:
            marks.setdefault(f.track_id, []).append((f.frame, sev[(f.track_id, f.frame)]))
        w.timeline.set_review_marks(marks, w.project.reviewed_marks(w.item.id))

    # ---------------- actions ----------------
    def go_to(self, track_id: int, frame: int) -> None:
        w = self.win
        w.editing.select_track(track_id)
        w.navigation.go_frame(frame)
        self.panel.select(track_id, frame)

    def step_flag(self, direction: int) -> None:
        w = self.win
        if w.project is None or w.item is None:
            return
        obj = w.project.track(w.active_track).obj_id if w.active_track is not None else None
        f = review.step(self.shown, w.frame, obj, direction)
        if f is None:
            w.statusBar().showMessage(f"No flagged frame {'after' if direction > 0 else 'before'} this one.", 3000)
            return
        self.go_to(f.track_id, f.frame)

    def next_flagged(self) -> None:
        self.step_flag(1)

    def previous_flagged(self) -> None:
        self.step_flag(-1)

    def toggle_reviewed(self) -> None:
        """Mark the selected object on this frame reviewed (or, if it is, not reviewed); with no
        object selected, every object of the video on this frame. One undo step either way."""
        w = self.win
        if w.project is None or w.item is None or w.editing.edits_wait():
            return
        tracks = [w.active_track] if w.active_track is not None else [t.id for t in w.project.tracks(w.item.id)]
        if not tracks:
            return
        p = w.project
        done = all(p.is_reviewed(t, w.frame) for t in tracks)
        try:
            with p.group(f"Mark frame {w.frame} {'not ' if done else ''}reviewed"):
                for t in tracks:
                    p.mark_reviewed(t, w.frame, reviewed=not done)
        except AnnotatorError as e:
            w.statusBar().showMessage(str(e), 4000)
            return
        who = f"object {p.track(tracks[0]).obj_id}" if w.active_track is not None else "every object"
        w.statusBar().showMessage(f"Frame {w.frame}, {who}: {'not ' if done else ''}reviewed.", 3000)
