"""A zoomable, pannable image view (QGraphicsView): wheel zoom, fit, 100 %, drag to pan.

Optionally draws numbered boxes over the image (the faces of a multi-face photo); clicking a box
emits :attr:`ImageView.boxClicked`. With no image it shows a placeholder text.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

MIN_ZOOM, MAX_ZOOM = 0.01, 32.0
WHEEL_STEP = 1.25


class ImageView(QGraphicsView):
    zoomChanged = Signal(float)
    boxClicked = Signal(int)

    def __init__(self, placeholder: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor("#2b2b2b"))
        self.setAcceptDrops(False)  # drops go to the panel that holds the view
        self.viewport().setAcceptDrops(False)
        self._pixmap_item = QGraphicsPixmapItem()
        self._pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._pixmap_item)
        self._placeholder = placeholder
        self._fit = True
        self._boxes: list[tuple[float, float, float, float]] = []
        self._selected_box = -1
        self._image_size: tuple[int, int] | None = None

    # -- content -----------------------------------------------------------------------------
    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.viewport().update()

    def has_image(self) -> bool:
        return self._image_size is not None

    def set_image(self, image: QImage | None) -> None:
        """Show ``image`` (None clears). A new size re-fits; the same size keeps zoom and scroll."""
        if image is None or image.isNull():
            self._pixmap_item.setPixmap(QPixmap())
            self._image_size = None
            self.set_boxes([])
            self.viewport().update()
            return
        self._pixmap_item.setPixmap(QPixmap.fromImage(image))
        size = (image.width(), image.height())
        same = size == self._image_size
        self._image_size = size
        self.scene().setSceneRect(QRectF(0, 0, *size))
        if not same or self._fit:
            self.fit()
        self.viewport().update()

    def set_boxes(self, boxes: list[tuple[float, float, float, float]] | tuple, selected: int = -1) -> None:
        self._boxes = list(boxes)
        self._selected_box = selected
        self.viewport().update()

    # -- zoom --------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = min(MAX_ZOOM, max(MIN_ZOOM, factor))
        self._fit = False
        s = factor / self.zoom()
        self.scale(s, s)
        self.zoomChanged.emit(self.zoom())

    def zoom_by(self, step: float) -> None:
        self.set_zoom(self.zoom() * step)

    def actual_size(self) -> None:
        """100 %: one image pixel per screen pixel."""
        self.set_zoom(1.0)

    def fit(self) -> None:
        """Fit the whole image in the view (and keep fitting on resize until the user zooms)."""
        self._fit = True
        if self._image_size is None:
            return
        self.resetTransform()
        self.fitInView(self._pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom())

    def is_fitted(self) -> bool:
        return self._fit

    # -- events ------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._image_size is None:
            return
        dy = event.angleDelta().y()
        if dy:
            self.zoom_by(WHEEL_STEP ** (dy / 120))
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._boxes:
            p = self.mapToScene(event.position().toPoint())
            for i, (x0, y0, x1, y1) in enumerate(self._boxes):
                if x0 <= p.x() <= x1 and y0 <= p.y() <= y1:
                    self.boxClicked.emit(i)
                    event.accept()
                    return
        super().mousePressEvent(event)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self._image_size is None:
            if self._placeholder:
                painter.save()
                painter.resetTransform()
                painter.setPen(QColor("#a0a0a0"))
                f = QFont(painter.font())
                f.setPointSizeF(max(9.0, f.pointSizeF()))
                painter.setFont(f)
                painter.drawText(
                    self.viewport().rect().adjusted(12, 12, -12, -12),
                    Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                    self._placeholder,
                )
                painter.restore()
            return
        if len(self._boxes) < 2:
            return
        painter.save()
        scale = max(self.zoom(), 1e-6)
        for i, (x0, y0, x1, y1) in enumerate(self._boxes):
            chosen = i == self._selected_box
            pen = QPen(QColor("#39d353" if chosen else "#f0c419"))
            pen.setWidthF((3.0 if chosen else 2.0) / scale)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            f = QFont(painter.font())
            f.setPixelSize(max(1, int(16 / scale)))
            f.setBold(True)
            painter.setFont(f)
            tag = QRectF(x0, y0 - 20 / scale, 22 / scale, 20 / scale)
            painter.fillRect(tag, pen.color())
            painter.setPen(QColor("#000000"))
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, str(i + 1))
        painter.restore()

    def image_rect(self) -> QRectF:
        return self._pixmap_item.sceneBoundingRect()

    def scene_to_view(self, p: QPointF) -> QPointF:
        return QPointF(self.mapFromScene(p))
