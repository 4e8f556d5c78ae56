"""The video timeline: a frame ruler with the current frame, scrubbing by click/drag,
and one swimlane per object showing which frames have a mask and where it came from, plus
the review queue's marks: flagged frames (a notch over the lane, amber to red by score) and
frames a person marked reviewed (a green tick under it).

Lanes are drawn as runs of equal source, so a 10,000-frame video costs as many
rectangles as there are source changes, not frames.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

RULER_H = 20
LANE_H = 14
LANE_GAP = 3
LABEL_W = 120

# How each source is drawn: alpha of the object's colour, plus a marker for keyframes.
SOURCE_STYLE = {
    "manual": (255, True),  # clicked or painted by a person: solid, with a keyframe tick
    "propagated": (120, False),
    "imported": (200, False),
    "auto": (160, False),
}


def severity_color(s: float) -> QColor:
    """A review flag's colour by severity 0..1: amber (lowest of the shown flags) to red (highest)."""
    s = min(1.0, max(0.0, float(s)))
    return QColor(255, int(200 - 170 * s), int(40 - 20 * s))


SOURCE_WORDS = {"manual": "clicked/edited", "propagated": "propagated", "imported": "imported", "auto": "automatic"}


class Timeline(QWidget):
    frameRequested = Signal(int)
    laneClicked = Signal(int)  # track id

    def __init__(self, parent=None):
        super().__init__(parent)
        self.num_frames = 0
        self.current = 0
        self.lanes: list[dict] = []  # {track_id, obj_id, color, label, frames: {frame: source}, selected}
        self.busy_range: tuple[int, int] | None = None  # frames a running propagation will cover
        self.flag_marks: dict[int, list[tuple[int, float]]] = {}  # track id -> [(frame, severity 0..1)]
        self.reviewed: dict[int, set[int]] = {}  # track id -> frames marked reviewed
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._scrubbing = False
        self._update_height()

    def sizeHint(self) -> QSize:
        return QSize(600, self._height())

    def _height(self) -> int:
        n = max(1, len(self.lanes))
        return RULER_H + min(n, 8) * (LANE_H + LANE_GAP) + 6

    def _update_height(self) -> None:
        self.setFixedHeight(self._height())

    # ---------------- data ----------------
    def set_video(self, num_frames: int) -> None:
        self.num_frames = max(0, int(num_frames))
        self.current = min(self.current, max(0, self.num_frames - 1))
        self.update()

    def set_current(self, frame: int) -> None:
        if frame != self.current:
            self.current = int(frame)
            self.update()

    def set_lanes(self, lanes: list[dict]) -> None:
        self.lanes = lanes
        self._update_height()
        self.update()

    def set_review_marks(self, flags: dict, reviewed: dict) -> None:
        """flags {track_id: [(frame, severity 0..1)]}, reviewed {track_id: frames}; kept across
        set_lanes (lanes are rebuilt on every store change, the queue only when it is recomputed)."""
        self.flag_marks = {k: list(v) for k, v in flags.items()}
        self.reviewed = {k: set(v) for k, v in reviewed.items()}
        self.update()

    def set_frame_source(self, track_id: int, frame: int, source: str | None) -> None:
        for lane in self.lanes:
            if lane["track_id"] == track_id:
                if source is None:
                    lane["frames"].pop(frame, None)
                else:
                    lane["frames"][frame] = source
                self.update()
                return

    # ---------------- geometry ----------------
    def _x_of(self, frame: float) -> float:
        span = max(1, self.num_frames)
        return LABEL_W + frame * (self.width() - LABEL_W - 4) / span

    def _frame_at(self, x: float) -> int:
        span = max(1, self.num_frames)
        f = int((x - LABEL_W) * span / max(1, self.width() - LABEL_W - 4))
        return max(0, min(self.num_frames - 1, f))

    # ---------------- painting ----------------
    def paintEvent(self, _e) -> None:
        p = QPainter(self)
        pal = self.palette()
        base, text, mid = pal.base().color(), pal.text().color(), pal.mid().color()
        p.fillRect(self.rect(), base)
        if self.num_frames <= 0:
            p.setPen(text)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No video")
            return
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.8))
        p.setFont(small)
        # ruler ticks: about one label per 80 px
        w = self.width() - LABEL_W - 4
        step = _nice_step(self.num_frames * 80 / max(1, w))
        p.setPen(QPen(mid, 1))
        p.drawLine(LABEL_W, RULER_H - 1, self.width(), RULER_H - 1)
        p.setPen(text)
        f = 0
        while f < self.num_frames:
            x = self._x_of(f)
            p.drawLine(int(x), RULER_H - 6, int(x), RULER_H - 1)
            p.drawText(int(x) + 2, RULER_H - 7, str(f))
            f += step
        if self.busy_range is not None:
            a, b = sorted(self.busy_range)
            p.fillRect(QRectF(self._x_of(a), 0, self._x_of(b + 1) - self._x_of(a), 4), QColor(255, 170, 0))
        fw = max(1.0, w / self.num_frames)
        for i, lane in enumerate(self.lanes[:8]):
            y = RULER_H + 3 + i * (LANE_H + LANE_GAP)
            r, g, b = lane["color"]
            if lane.get("selected"):
                p.fillRect(QRectF(0, y - 1, self.width(), LANE_H + 2), pal.highlight().color().lighter(160)
                           if base.lightness() > 128 else pal.highlight().color().darker(200))
            p.fillRect(QRectF(4, y + 2, 10, LANE_H - 4), QColor(r, g, b))
            p.setPen(text)
            p.drawText(QRectF(18, y, LABEL_W - 20, LANE_H), Qt.AlignmentFlag.AlignVCenter, lane["label"])
            p.fillRect(QRectF(LABEL_W, y + LANE_H / 2 - 1, w, 2), mid)
            for start, end, src in _runs(lane["frames"]):
                alpha, tick = SOURCE_STYLE.get(src, (160, False))
                x0 = self._x_of(start)
                p.fillRect(QRectF(x0, y + 1, max(fw, self._x_of(end + 1) - x0), LANE_H - 2), QColor(r, g, b, alpha))
                if tick:
                    p.fillRect(QRectF(x0, y, max(2.0, min(fw, 4.0)), LANE_H), text)
            self._paint_review_marks(p, lane["track_id"], y, fw)
        # current frame cursor
        x = self._x_of(self.current + 0.5)
        p.setPen(QPen(QColor(230, 40, 40), 2))
        p.drawLine(int(x), 0, int(x), self.height())
        p.end()

    def _paint_review_marks(self, p: QPainter, track_id: int, y: float, fw: float) -> None:
        mw = max(3.0, min(fw, 6.0))
        for f in self.reviewed.get(track_id, ()):
            p.fillRect(QRectF(self._x_of(f + 0.5) - mw / 2, y + LANE_H - 3, mw, 3), QColor(40, 170, 70))
        for f, sev in self.flag_marks.get(track_id, ()):
            x = self._x_of(f + 0.5)
            p.setPen(QPen(QColor(40, 20, 0), 1))
            p.setBrush(severity_color(sev))
            half = mw / 2 + 1
            p.drawPolygon([QPointF(x - half, y - 1), QPointF(x + half, y - 1), QPointF(x, y + LANE_H * 0.6)])
        p.setBrush(Qt.BrushStyle.NoBrush)

    def flagged_frames(self, track_id: int) -> list[int]:
        return sorted(f for f, _ in self.flag_marks.get(track_id, ()))

    # ---------------- mouse ----------------
    def mousePressEvent(self, e) -> None:
        if self.num_frames <= 0:
            return
        x, y = e.position().x(), e.position().y()
        if x < LABEL_W:
            i = int((y - RULER_H - 3) // (LANE_H + LANE_GAP))
            if y > RULER_H and 0 <= i < len(self.lanes):
                self.laneClicked.emit(self.lanes[i]["track_id"])
            return
        self._scrubbing = True
        self.frameRequested.emit(self._frame_at(x))

    def mouseMoveEvent(self, e) -> None:
        x, y = e.position().x(), e.position().y()
        if self._scrubbing and x >= LABEL_W:
            self.frameRequested.emit(self._frame_at(x))
            return
        if self.num_frames > 0 and x >= LABEL_W and y > RULER_H:
            f = self._frame_at(x)
            i = int((y - RULER_H - 3) // (LANE_H + LANE_GAP))
            if 0 <= i < len(self.lanes):
                src = self.lanes[i]["frames"].get(f)
                what = SOURCE_WORDS.get(src, "no mask") if src else "no mask"
                tid = self.lanes[i]["track_id"]
                if f in self.flagged_frames(tid):
                    what += ", flagged for review"
                if f in self.reviewed.get(tid, ()):
                    what += ", reviewed"
                QToolTip.showText(e.globalPosition().toPoint(), f"{self.lanes[i]['label']} · frame {f}: {what}", self)

    def mouseReleaseEvent(self, _e) -> None:
        self._scrubbing = False


def _runs(frames: dict[int, str]):
    """(first, last, source) for each run of consecutive frames with one source."""
    if not frames:
        return
    keys = sorted(frames)
    start = prev = keys[0]
    src = frames[start]
    for f in keys[1:]:
        s = frames[f]
        if f == prev + 1 and s == src:
            prev = f
            continue
        yield start, prev, src
        start = prev = f
        src = s
    yield start, prev, src


def _nice_step(raw: float) -> int:
    for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if s >= raw:
            return s
    return int(raw)
