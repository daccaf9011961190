"""The result: before/after comparison with a split slider and a "show before" toggle, zoom, pan.

The view shows the full-resolution source ("before") and the edited photo ("after") on top of
each other; everything left of the split line is "before", the rest "after". The split line can
be dragged on the picture itself (its handle, or anywhere with Shift held) as well as with the
slider below. Zoom and pan act on both at once (they share one scene). Side by side
(:meth:`ResultView.set_side_by_side`) puts the reference photo left of the result.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QStyleOptionGraphicsItem,
    QVBoxLayout,
    QWidget,
)

from gafet_studio.image_convert import display_patch
from gafet_studio.widgets.image_view import ImageItem, ImageView
from gafet_studio.widgets.overlay import ProgressOverlay

GRAB_PX = 10  # how close (screen px) to the split line a press grabs it
HANDLE_RADIUS = 13  # the grip drawn on the split line (screen px)


class _SplitImageItem(ImageItem):
    """The "after" picture, drawn only right of ``split`` (a fraction of the frame's width).

    It holds either the whole picture (stretched to the photo by the item's transform when it is
    a smaller preview) or only the patch where the edit changed the photo (:meth:`set_patch`):
    the "before" photo underneath shows everywhere else, so a 24 MP result costs the GUI thread
    its face box, not the photo.
    """

    def __init__(self) -> None:
        super().__init__()
        self.split = 0.0
        self._base: QImage | None = None  # the photo under a patch (for pixmap())
        self.present = False

    def set_whole(self, image: QImage | None) -> None:
        self._base = None
        self.present = image is not None and not image.isNull()
        self.set_image(image)

    def set_patch(self, patch: QImage, offset: tuple[int, int], base: QImage) -> None:
        """Show ``patch`` at ``offset`` (photo px) over ``base``, the photo the view shows as before."""
        self._base, self.present = base, True
        self.set_image(patch, offset, (float(base.width()), float(base.height())))

    def patched(self) -> bool:
        """Whether a patch over the photo is shown (rather than a whole picture)."""
        return self._base is not None

    def pixmap(self) -> QPixmap:
        """The whole "after" picture as shown (composed from the patch and the photo: for reading
        it back, e.g. in tests; drawing never needs it)."""
        if not self.present:
            return QPixmap()
        if self._base is None:
            return QPixmap.fromImage(self.image())
        whole = self._base.copy()
        if not self.image().isNull():
            painter = QPainter(whole)
            painter.drawImage(self.offset(), self.image())
            painter.end()
        return QPixmap.fromImage(whole)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        frame = self.boundingRect()
        w, h = frame.width(), frame.height()
        x = self.split * w
        if x >= w or not self.present:
            return
        painter.save()
        painter.setClipRect(QRectF(x, 0, w - x, h))
        super().paint(painter, option, widget)
        painter.restore()
        if 0 < x:
            pen = QPen(QColor("#ffffff"))
            pen.setCosmetic(True)
            pen.setWidthF(2.0)
            painter.setPen(pen)
            painter.drawLine(int(x), 0, int(x), int(h))


class CompareView(ImageView):
    """An ImageView whose base image is "before", with "after" layered over it.

    A left-button press on the split line's grip (or anywhere with Shift) drags the split;
    :attr:`splitDragged` reports each new fraction. Elsewhere a drag pans as in any ImageView.
    """

    splitDragged = Signal(float)

    def __init__(self, placeholder: str = "", parent=None) -> None:
        super().__init__(placeholder, parent)
        self._after = _SplitImageItem()
        self._after.setZValue(1)
        self.scene().addItem(self._after)
        self._show_before = False
        self._dragging_split = False

    def set_after(self, image: QImage | None, size: tuple[int, int] | None = None) -> None:
        """Show ``image`` as "after", stretched to ``size`` (the photo's) when it is a smaller preview.

        An exact picture made by :func:`~gafet_studio.image_convert.patched_display_qimage` from
        the photo shown as "before" is drawn as its changed box only (no conversion, no copy)."""
        patch = display_patch(image) if image is not None else None
        base = self._image_item.image()
        if (
            patch is not None
            and not base.isNull()
            and patch.base_key == base.cacheKey()
            and (image.width(), image.height()) == (base.width(), base.height())
        ):
            self._after.setTransform(QTransform())
            self._after.set_patch(patch.image, (patch.x, patch.y), base)
        elif image is None or image.isNull():
            self._after.set_whole(None)
        else:
            self._after.set_whole(image)
            w, h = size or (image.width(), image.height())
            self._after.setTransform(QTransform.fromScale(w / image.width(), h / image.height()))
        self._after.setVisible(not self._show_before)
        self._hide_covered_before()
        self.viewport().update()

    def _hide_covered_before(self) -> None:
        """Where a whole "after" picture covers the photo (right of the split), the photo is not
        drawn underneath (a paint then scales one picture, not two)."""
        w, h = self._image_size or (0, 0)
        r = self._after.sceneBoundingRect()
        covered = (
            self._after.isVisible() and self._after.present and not self._after.patched()
            and r.left() <= 0.5 and r.top() <= 0.5 and r.right() >= w - 0.5 and r.bottom() >= h - 0.5
        )
        self._image_item.clip = QRectF(0, 0, self._after.split * w, h) if covered else None
        self._image_item.update()

    def set_image(self, image: QImage | None) -> None:
        super().set_image(image)
        self._hide_covered_before()

    def has_after(self) -> bool:
        return self._after.present

    def set_split(self, fraction: float) -> None:
        self._after.split = min(1.0, max(0.0, fraction))
        self._after.update()
        self._hide_covered_before()

    def split(self) -> float:
        return self._after.split

    def set_show_before(self, on: bool) -> None:
        self._show_before = on
        self._after.setVisible(not on)
        self._hide_covered_before()

    def showing_after(self) -> bool:
        return self._after.isVisible() and self.has_after() and self._after.split < 1.0

    # -- the draggable split line -------------------------------------------------------------
    def split_line_x(self) -> float:
        """The split line's x in viewport px."""
        r = self._after.sceneBoundingRect()
        return self.mapFromScene(QPointF(r.left() + self._after.split * r.width(), r.top())).x()

    def _splittable(self) -> bool:
        return self.has_after() and not self._show_before and self._image_size is not None

    def _fraction_at(self, view_x: float) -> float:
        r = self._after.sceneBoundingRect()
        x = self.mapToScene(int(round(view_x)), 0).x()
        return min(1.0, max(0.0, (x - r.left()) / max(r.width(), 1e-9)))

    def _near_line(self, view_x: float) -> bool:
        return self._splittable() and abs(view_x - self.split_line_x()) <= GRAB_PX

    def is_dragging_split(self) -> bool:
        return self._dragging_split

    def _drag_split_to(self, view_x: float) -> None:
        fraction = self._fraction_at(view_x)
        if fraction != self._after.split:
            self.set_split(fraction)
            self.viewport().update()
            self.splitDragged.emit(fraction)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        left = event.button() == Qt.MouseButton.LeftButton
        if left and self._splittable() and (shift or self._near_line(x)):
            self._dragging_split = True
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
            self._drag_split_to(x)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        if self._dragging_split:
            self._drag_split_to(x)
            event.accept()
            return
        if event.buttons() == Qt.MouseButton.NoButton:
            near = self._near_line(x)
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging_split and event.button() == Qt.MouseButton.LeftButton:
            self._dragging_split = False
            near = self._near_line(event.position().x())
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawForeground(painter, rect)
        if not self._splittable():
            return
        # the grip: a round handle with two arrows on the split line (screen px, any zoom)
        painter.save()
        painter.resetTransform()
        x = self.split_line_x()
        r = self.mapFromScene(self._after.sceneBoundingRect()).boundingRect()
        vp = self.viewport().rect()
        y = (max(r.top(), vp.top()) + min(r.bottom(), vp.bottom())) / 2
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(0, 0, 0, 90), 1.0))
        painter.setBrush(QBrush(QColor(255, 255, 255, 235 if self._dragging_split else 205)))
        painter.drawEllipse(QPointF(x, y), HANDLE_RADIUS, HANDLE_RADIUS)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor("#2b2b2b")))
        for s in (-1, 1):  # ◀ ▶
            tip, base = x + s * 9, x + s * 3
            painter.drawPolygon(QPolygonF([QPointF(tip, y), QPointF(base, y - 5), QPointF(base, y + 5)]))
        painter.restore()


class ResultView(QWidget):
    """The compare view plus its controls: split slider, Before toggle, Fit, 100 %, zoom readout.

    :attr:`progress` is the overlay shown while the result is being exported or first rendered;
    :attr:`reference_view` shows the reference beside the result when side by side is on.
    """

    splitChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = CompareView(
            "Drop a source portrait and a reference expression here\n"
            "(or use File ▸ Open). The edited photo appears here."
        )
        self.view.splitDragged.connect(self._split_dragged)
        self.view.setToolTip("Drag the split line's handle (or Shift+drag anywhere) to compare before/after")
        self.reference_view = ImageView("The reference appears here")
        self.reference_view.setToolTip("The reference")
        self.reference_view.hide()
        self.panes = QSplitter(Qt.Orientation.Horizontal)
        self.panes.setChildrenCollapsible(False)
        self.panes.addWidget(self.reference_view)
        self.panes.addWidget(self.view)
        self.progress = ProgressOverlay(self.view)
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, 100)
        self.split_slider.setValue(0)
        self.split_slider.setToolTip("Before/after split: drag right to reveal more of the original")
        self.split_slider.valueChanged.connect(self._split_moved)
        self.before_button = QPushButton("Show before")
        self.before_button.setCheckable(True)
        self.before_button.setToolTip("Show the original photo (toggle)")
        self.before_button.toggled.connect(self.view.set_show_before)
        fit = QPushButton("Fit")
        fit.setToolTip("Fit the photo in the view")
        fit.clicked.connect(self.view.fit)
        one = QPushButton("100%")
        one.setToolTip("Actual pixels")
        one.clicked.connect(self.view.actual_size)
        self.zoom_label = QLabel("")
        self.zoom_label.setMinimumWidth(48)
        self.view.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Before"))
        bar.addWidget(self.split_slider, 1)
        bar.addWidget(QLabel("After"))
        bar.addSpacing(12)
        bar.addWidget(self.before_button)
        bar.addWidget(fit)
        bar.addWidget(one)
        bar.addWidget(self.zoom_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panes, 1)
        layout.addLayout(bar)

    def _split_moved(self, value: int) -> None:
        # Slider 0 = all after; 100 = all before (the split line moves right).
        self.view.set_split(value / 100.0)
        self.splitChanged.emit(value / 100.0)

    def _split_dragged(self, fraction: float) -> None:
        """The line was dragged on the picture: the slider follows (without moving it back)."""
        self.split_slider.blockSignals(True)
        self.split_slider.setValue(round(fraction * 100))
        self.split_slider.blockSignals(False)
        self.splitChanged.emit(fraction)

    def split(self) -> float:
        """The before/after split: the fraction of the photo's width shown as "before"."""
        return self.view.split()

    # -- side by side ----------------------------------------------------------------------------
    def set_side_by_side(self, on: bool) -> None:
        """Show the reference left of the result (each zooms on its own), or the result alone."""
        self.reference_view.setVisible(on)
        if on:
            half = max(1, self.panes.width() // 2)
            self.panes.setSizes([half, half])

    def side_by_side(self) -> bool:
        return not self.reference_view.isHidden()

    def set_reference(self, image: QImage | None, placeholder: str = "The reference appears here") -> None:
        """The reference photo for side by side (None: ``placeholder`` instead, e.g. a preset's name)."""
        self.reference_view.set_placeholder(placeholder)
        self.reference_view.set_image(image)

    def set_before(self, image: QImage | None) -> None:
        self.view.set_image(image)

    def set_after(self, image: QImage | None, size: tuple[int, int] | None = None) -> None:
        self.view.set_after(image, size)
