"""The image view: zoom/pan, the mask overlay, prompt points and boxes, brush strokes.

The canvas knows nothing about projects or engines. It shows one image plus an overlay
built from (mask, colour) pairs, and turns mouse gestures into signals in image pixel
coordinates: a click (positive or negative), a dragged box, or a finished brush stroke.
"""
from __future__ import annotations

import time

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsTextItem,
    QGraphicsView,
)

from annotator.gui.overlay import OverlayBuilder

DRAG_THRESHOLD_PX = 5


class Canvas(QGraphicsView):
    pointClicked = Signal(float, float, bool, float)  # x, y, positive, perf_counter at the event
    boxDrawn = Signal(float, float, float, float, float)  # x0, y0, x1, y1, perf_counter
    strokeFinished = Signal(object, bool)  # bool HxW mask of the stroke, erase?
    objectPicked = Signal(float, float)  # Ctrl+click: choose the object under (x, y) to edit
    maskPainted = Signal(object)  # token given to set_overlay, once the viewport has painted it
    zoomChanged = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # the main window takes drops
        self.setBackgroundBrush(QColor(40, 40, 40))
        self._img_item = QGraphicsPixmapItem()
        self._img_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._ovl_item = QGraphicsPixmapItem()
        self._ovl_item.setZValue(1)
        # Keep the scaled image/overlay as device pixmaps: repaints for cursor, prompts or the
        # brush preview then blit instead of rescaling a full frame.
        self._img_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._ovl_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState
                                  | QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.scene().addItem(self._img_item)
        self.scene().addItem(self._ovl_item)
        self._prompt_items: list[QGraphicsItem] = []
        self._box_item = QGraphicsRectItem()
        self._box_item.setZValue(3)
        pen = QPen(QColor(255, 255, 0), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._box_item.setPen(pen)
        self._box_item.hide()
        self.scene().addItem(self._box_item)
        self._stroke_item = QGraphicsPathItem()
        self._stroke_item.setZValue(4)
        self.scene().addItem(self._stroke_item)
        self._cursor_item = QGraphicsEllipseItem()
        self._cursor_item.setZValue(5)
        cpen = QPen(QColor(255, 255, 255), 1)
        cpen.setCosmetic(True)
        self._cursor_item.setPen(cpen)
        self._cursor_item.hide()
        self.scene().addItem(self._cursor_item)

        # shown instead of a frame when there is none to show (missing media)
        self._placeholder = QGraphicsTextItem()
        self._placeholder.setDefaultTextColor(QColor(230, 230, 230))
        self._placeholder.setZValue(6)
        self._placeholder.hide()
        self.scene().addItem(self._placeholder)

        self.tool = "prompt"  # prompt | brush | eraser
        self.brush_radius = 12
        self.opacity = 0.5
        self.outlines_only = False
        self.readonly = False
        self.image_size = (0, 0)  # w, h
        self._layers: list = []
        self._press = None  # (view pos, scene pos, button, modifiers, t)
        self._dragging_box = False
        self._pan_last = None
        self._space = False
        self._stroke: list[QPointF] = []
        self._stroke_erase = False
        self._waiting_tokens: list = []
        self._paint_tokens: list = []
        self._fit_mode = True
        self._overlay_req = 0
        self._pending_image = None
        self._overlay = OverlayBuilder(self)
        self._overlay.built.connect(self._on_overlay_built)
        self._overlay.start()

    # ---------------- content ----------------
    def set_frame(self, image: QImage, layers: list, token=None) -> None:
        """Show a new frame together with its overlay (both appear in the same paint, so a
        mask never sits on the wrong frame)."""
        self._pending_image = image
        self._layers = layers
        if image is not None and (image.width(), image.height()) != self.image_size:
            self.set_image(image)  # new size: show at once, the overlay follows
            self._pending_image = None
        self._rebuild_overlay(token)

    def show_placeholder(self, text: str) -> None:
        """No frame, only `text` (the previous item's frame must not stay on screen)."""
        self._pending_image = None
        self._layers = []
        self._overlay_req += 1  # an overlay still being built belongs to the previous frame
        self.set_image(None)
        self.set_prompts()
        self._placeholder.setPlainText(text)
        self._placeholder.setTextWidth(520)
        self._placeholder.show()
        self.scene().setSceneRect(self._placeholder.boundingRect().adjusted(-20, -20, 20, 20))
        self.resetTransform()
        self.centerOn(self._placeholder)

    @property
    def placeholder(self) -> str:
        return self._placeholder.toPlainText() if self._placeholder.isVisible() else ""

    def set_image(self, image: QImage | None) -> None:
        if image is not None:
            self._placeholder.hide()
        if image is None:
            self._img_item.setPixmap(QPixmap())
            self._ovl_item.setPixmap(QPixmap())
            self.image_size = (0, 0)
            return
        size_changed = (image.width(), image.height()) != self.image_size
        self._img_item.setPixmap(QPixmap.fromImage(image))
        self.image_size = (image.width(), image.height())
        self.scene().setSceneRect(QRectF(0, 0, image.width(), image.height()))
        if size_changed or self._fit_mode:
            self.fit()

    def has_image(self) -> bool:
        return self.image_size[0] > 0

    def set_layers(self, layers: list, token=None) -> None:
        """layers: list of (mask bool HxW or COCO RLE dict, (r, g, b), selected). The overlay is
        composed in a background thread; `maskPainted(token)` fires once it is on screen."""
        self._layers = layers
        self._rebuild_overlay(token)

    def _rebuild_overlay(self, token=None) -> None:
        if token is not None:
            self._waiting_tokens.append(token)  # survives being superseded by a newer rebuild
        self._overlay_req += 1
        self._overlay.request(self._overlay_req, token, self.image_size, list(self._layers), self.opacity,
                              self.outlines_only)

    def _on_overlay_built(self, req_id: int, token, qimage) -> None:
        if req_id != self._overlay_req:
            return  # superseded while it was being built
        if self._pending_image is not None:
            img, self._pending_image = self._pending_image, None
            self.set_image(img)
        self._ovl_item.setPixmap(QPixmap.fromImage(qimage) if qimage is not None else QPixmap())
        self._paint_tokens.extend(self._waiting_tokens)
        self._waiting_tokens = []
        self.viewport().update()

    def shutdown(self) -> None:
        self._overlay.stop()

    def set_opacity(self, value: float) -> None:
        self.opacity = float(min(1.0, max(0.0, value)))
        self._rebuild_overlay()

    def set_outlines_only(self, on: bool) -> None:
        self.outlines_only = bool(on)
        self._rebuild_overlay()

    def set_prompts(self, points=(), labels=(), box=None) -> None:
        for it in self._prompt_items:
            self.scene().removeItem(it)
        self._prompt_items = []
        for (x, y), lab in zip(points, labels):
            it = QGraphicsEllipseItem(-6, -6, 12, 12)
            it.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            it.setPos(float(x), float(y))
            it.setBrush(QBrush(QColor(40, 220, 60) if lab else QColor(235, 50, 50)))
            it.setPen(QPen(QColor(255, 255, 255), 2))
            it.setZValue(6)
            self.scene().addItem(it)
            self._prompt_items.append(it)
        if box is not None:
            x0, y0, x1, y1 = box
            it = QGraphicsRectItem(QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized())
            pen = QPen(QColor(255, 220, 0), 2)
            pen.setCosmetic(True)
            it.setPen(pen)
            it.setZValue(6)
            self.scene().addItem(it)
            self._prompt_items.append(it)

    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self._cursor_item.setVisible(tool in ("brush", "eraser"))
        self._update_cursor_item(None)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if tool == "prompt" else Qt.CursorShape.BlankCursor)

    # ---------------- zoom ----------------
    def fit(self) -> None:
        if self.has_image():
            self.fitInView(self._img_item, Qt.AspectRatioMode.KeepAspectRatio)
            self._fit_mode = True
            self.zoomChanged.emit(self.zoom())

    def actual_size(self) -> None:
        self.resetTransform()
        self._fit_mode = False
        self.zoomChanged.emit(1.0)

    def zoom(self) -> float:
        return float(self.transform().m11())

    def zoom_by(self, factor: float) -> None:
        z = self.zoom() * factor
        if 0.02 <= z <= 64:
            self.scale(factor, factor)
            self._fit_mode = False
            self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, e) -> None:
        delta = e.angleDelta().y()
        if delta:
            self.zoom_by(1.15 ** (delta / 120))
        e.accept()

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        if self._fit_mode:
            self.fit()

    # ---------------- painting hook for latency ----------------
    def paintEvent(self, e) -> None:
        super().paintEvent(e)
        if self._paint_tokens:
            tokens, self._paint_tokens = self._paint_tokens, []
            for token in tokens:
                self.maskPainted.emit(token)

    # ---------------- mouse ----------------
    def _in_image(self, p: QPointF) -> QPointF:
        w, h = self.image_size
        return QPointF(min(max(p.x(), 0.0), w - 1e-3), min(max(p.y(), 0.0), h - 1e-3))

    def keyPressEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            e.accept()
            return
        super().keyPressEvent(e)

    def keyReleaseEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = False
            self.set_tool(self.tool)
            e.accept()
            return
        super().keyReleaseEvent(e)

    def mousePressEvent(self, e) -> None:
        t = time.perf_counter()
        if e.button() == Qt.MouseButton.MiddleButton or (self._space and e.button() == Qt.MouseButton.LeftButton):
            self._pan_last = e.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            e.accept()
            return
        if not self.has_image() or self.readonly:
            return
        sp = self.mapToScene(e.position().toPoint())
        if self.tool in ("brush", "eraser") and e.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._stroke = [sp]
            self._stroke_erase = self.tool == "eraser" or e.button() == Qt.MouseButton.RightButton
            self._update_stroke_item()
            e.accept()
            return
        self._press = (e.position(), sp, e.button(), e.modifiers(), t)
        self._dragging_box = False
        e.accept()

    def mouseMoveEvent(self, e) -> None:
        if self._pan_last is not None:
            d = e.position() - self._pan_last
            self._pan_last = e.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            self._fit_mode = False
            return
        sp = self.mapToScene(e.position().toPoint())
        self._update_cursor_item(sp)
        if self._stroke:
            self._stroke.append(sp)
            self._update_stroke_item()
            return
        if self._press is not None and self._press[2] == Qt.MouseButton.LeftButton:
            moved = (e.position() - self._press[0]).manhattanLength()
            if moved > DRAG_THRESHOLD_PX or self._dragging_box:
                self._dragging_box = True
                a = self._in_image(self._press[1])
                b = self._in_image(sp)
                self._box_item.setRect(QRectF(a, b).normalized())
                self._box_item.show()

    def mouseReleaseEvent(self, e) -> None:
        if self._pan_last is not None:
            self._pan_last = None
            self.set_tool(self.tool) if not self._space else self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if self._stroke:
            self._finish_stroke()
            return
        if self._press is None:
            return
        pos0, sp0, button, mods, t = self._press
        self._press = None
        if self._dragging_box:
            self._dragging_box = False
            self._box_item.hide()
            r = QRectF(self._in_image(sp0), self._in_image(self.mapToScene(e.position().toPoint()))).normalized()
            if r.width() >= 2 and r.height() >= 2:
                self.boxDrawn.emit(r.left(), r.top(), r.right(), r.bottom(), t)
            return
        w, h = self.image_size
        if not (0 <= sp0.x() < w and 0 <= sp0.y() < h):
            return
        if button == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.ControlModifier:
            self.objectPicked.emit(sp0.x(), sp0.y())
            return
        positive = button == Qt.MouseButton.LeftButton and not (mods & Qt.KeyboardModifier.ShiftModifier)
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self.pointClicked.emit(sp0.x(), sp0.y(), positive, t)

    def contextMenuEvent(self, e) -> None:
        e.accept()  # right click is a negative point, not a menu

    # ---------------- brush ----------------
    def _update_cursor_item(self, sp) -> None:
        if self.tool not in ("brush", "eraser") or sp is None:
            return
        r = self.brush_radius
        self._cursor_item.setRect(sp.x() - r, sp.y() - r, 2 * r, 2 * r)

    def _update_stroke_item(self) -> None:
        path = QPainterPath(self._stroke[0])
        for p in self._stroke[1:]:
            path.lineTo(p)
        if len(self._stroke) == 1:
            path.lineTo(self._stroke[0] + QPointF(0.01, 0))
        color = QColor(255, 80, 80, 150) if self._stroke_erase else QColor(80, 200, 255, 150)
        pen = QPen(color, 2 * self.brush_radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        self._stroke_item.setPen(pen)
        self._stroke_item.setPath(path)
        self._stroke_item.show()

    def stroke_mask(self, points: list[tuple[float, float]], radius: int) -> np.ndarray:
        w, h = self.image_size
        m = np.zeros((h, w), np.uint8)
        pts = [(int(round(x)), int(round(y))) for x, y in points]
        for a, b in zip(pts, pts[1:]):
            cv2.line(m, a, b, 1, thickness=2 * radius, lineType=cv2.LINE_8)
        for p in pts:
            cv2.circle(m, p, radius, 1, thickness=-1)
        return m.astype(bool)

    def _finish_stroke(self) -> None:
        pts = [(p.x(), p.y()) for p in self._stroke]
        erase = self._stroke_erase
        self._stroke = []
        self._stroke_item.hide()
        self.strokeFinished.emit(self.stroke_mask(pts, self.brush_radius), erase)
