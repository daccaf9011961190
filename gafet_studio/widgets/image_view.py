"""A zoomable, pannable image view (QGraphicsView): wheel zoom, fit, 100 %, drag to pan.

Optionally draws numbered boxes over the image (the faces of a multi-face photo); clicking a box
emits :attr:`ImageView.boxClicked`. With no image it shows a placeholder text.

Pictures are drawn as the ``QImage`` they come as (:class:`ImageItem`), never converted to a
``QPixmap`` on the GUI thread: that conversion copies every pixel (about 100 ms for a 24 MP photo),
while the raster paint engine draws a ``Format_RGB32`` image as fast as a pixmap.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsItem, QGraphicsScene, QGraphicsView, QStyleOptionGraphicsItem

MIN_ZOOM, MAX_ZOOM = 0.01, 32.0
WHEEL_STEP = 1.25


SMALL_SIDE = 2560  # the long side (px) of the reduced copy an image larger than this gets
SMALL_PIXELS = 6_000_000  # images above this many pixels get one (made in a worker)


_SMALL: OrderedDict[int, QImage] = OrderedDict()  # an image's cacheKey -> its reduced copy (a few)
_WAITING: dict[int, list[Callable[[QImage], None]]] = {}  # reductions under way -> who waits


def reduced_copy(image: QImage, done: Callable[[QImage], None]) -> None:
    """Call ``done`` (GUI thread) with ``image`` scaled to fit :data:`SMALL_SIDE` px: made once per
    image in a side worker (two views showing one photo share it), at once when already made."""
    from gafet_studio.workers import FunctionWorker, aux_pool

    key = image.cacheKey()
    if key in _SMALL:
        done(_SMALL[key])
        return
    if key in _WAITING:
        _WAITING[key].append(done)
        return
    _WAITING[key] = [done]

    def finished(small: QImage) -> None:
        _SMALL[key] = small
        while len(_SMALL) > 2:
            _SMALL.popitem(last=False)
        for call in _WAITING.pop(key, []):
            call(small)

    worker = FunctionWorker(
        image.scaled, SMALL_SIDE, SMALL_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    worker.signals.returned.connect(finished)
    worker.signals.errored.connect(lambda _: _WAITING.pop(key, None))
    worker.start(aux_pool())


class ImageItem(QGraphicsItem):
    """A QImage in the scene, drawn as is (no pixmap conversion), smoothly scaled.

    The item covers ``frame`` (w, h) item px from (0, 0); the image is drawn at ``offset`` (a
    patch of a larger picture) or fills the frame (offset (0, 0), frame = the image's size).
    ``clip`` (item px, None: none) limits what is drawn (an empty one: nothing).

    An image above :data:`SMALL_PIXELS` also gets a reduced copy (long side :data:`SMALL_SIDE`),
    made in a worker, drawn instead whenever the view shows the image at or below that copy's
    resolution: smoothly scaling a 24 MP photo down to the screen at every paint would cost the
    GUI thread tens of milliseconds.
    """

    def __init__(self) -> None:
        super().__init__()
        self._image = QImage()
        self._small = QImage()
        self._offset = QPointF(0.0, 0.0)
        self._frame = QRectF()
        self.clip: QRectF | None = None

    def set_image(self, image: QImage | None, offset: tuple[float, float] = (0.0, 0.0),
                  frame: tuple[float, float] | None = None) -> None:
        """Draw ``image`` (None: nothing) at ``offset`` within ``frame`` (default: the image's size)."""
        self.prepareGeometryChange()
        self._image = QImage() if image is None or image.isNull() else image
        self._small = QImage()
        self._offset = QPointF(*offset)
        if frame is None:
            frame = (float(self._image.width()), float(self._image.height()))
        self._frame = QRectF(0.0, 0.0, *frame)
        if self._image.width() * self._image.height() > SMALL_PIXELS:
            self._reduce(self._image)
        self.update()

    def _reduce(self, image: QImage) -> None:
        key = image.cacheKey()
        reduced_copy(image, lambda small: self._reduced(key, small))

    def _reduced(self, key: int, small: QImage) -> None:
        if shiboken6.isValid(self) and key == self._image.cacheKey():  # not replaced meanwhile
            self._small = small
            self.update()

    def has_reduced(self) -> bool:
        """Whether the reduced copy of a large image is ready."""
        return not self._small.isNull()

    def image(self) -> QImage:
        """The image drawn (null when none)."""
        return self._image

    def offset(self) -> QPointF:
        return QPointF(self._offset)

    def boundingRect(self) -> QRectF:
        return QRectF(self._frame)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self._image.isNull() or (self.clip is not None and self.clip.isEmpty()):
            return
        painter.save()
        if self.clip is not None:
            painter.setClipRect(self.clip, Qt.ClipOperation.IntersectClip)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        t = painter.worldTransform()
        on_screen = math.hypot(t.m11(), t.m12()) * self._image.width()  # device px across
        if not self._small.isNull() and on_screen <= self._small.width():
            target = QRectF(self._offset, QSizeF(self._image.width(), self._image.height()))
            painter.drawImage(target, self._small)
        else:
            painter.drawImage(self._offset, self._image)
        painter.restore()


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
        self._image_item = ImageItem()
        self.scene().addItem(self._image_item)
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
            self._image_item.set_image(None)
            self._image_size = None
            self.set_boxes([])
            self.viewport().update()
            return
        self._image_item.set_image(image)
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
        self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
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
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, str(i))  # from 0, as the CLI counts
        painter.restore()

    def image_rect(self) -> QRectF:
        return self._image_item.sceneBoundingRect()

    def image(self) -> QImage | None:
        """The image on show (None when none)."""
        image = self._image_item.image()
        return None if image.isNull() else image

    def scene_to_view(self, p: QPointF) -> QPointF:
        return QPointF(self.mapFromScene(p))
