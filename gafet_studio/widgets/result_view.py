"""The result: before/after comparison with a split slider and a "show before" toggle, zoom, pan.

The view shows the full-resolution source ("before") and the edited photo ("after") on top of
each other; everything left of the split line is "before", the rest "after". Zoom and pan act on
both at once (they share one scene).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStyleOptionGraphicsItem,
    QVBoxLayout,
    QWidget,
)

from gafet_studio.widgets.image_view import ImageView


class _SplitPixmapItem(QGraphicsPixmapItem):
    """A pixmap drawn only right of ``split`` (a fraction of its width)."""

    def __init__(self) -> None:
        super().__init__()
        self.split = 0.0
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        w, h = self.pixmap().width(), self.pixmap().height()
        x = self.split * w
        if x >= w:
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
            painter.drawLine(int(x), 0, int(x), h)


class CompareView(ImageView):
    """An ImageView whose base image is "before", with "after" layered over it."""

    def __init__(self, placeholder: str = "", parent=None) -> None:
        super().__init__(placeholder, parent)
        self._after = _SplitPixmapItem()
        self._after.setZValue(1)
        self.scene().addItem(self._after)
        self._show_before = False

    def set_after(self, image: QImage | None, size: tuple[int, int] | None = None) -> None:
        """Show ``image`` as "after", stretched to ``size`` (the photo's) when it is a smaller preview."""
        if image is None or image.isNull():
            self._after.setPixmap(QPixmap())
        else:
            self._after.setPixmap(QPixmap.fromImage(image))
            w, h = size or (image.width(), image.height())
            self._after.setTransform(QTransform.fromScale(w / image.width(), h / image.height()))
        self._after.setVisible(not self._show_before)
        self.viewport().update()

    def has_after(self) -> bool:
        return not self._after.pixmap().isNull()

    def set_split(self, fraction: float) -> None:
        self._after.split = min(1.0, max(0.0, fraction))
        self._after.update()

    def split(self) -> float:
        return self._after.split

    def set_show_before(self, on: bool) -> None:
        self._show_before = on
        self._after.setVisible(not on)

    def showing_after(self) -> bool:
        return self._after.isVisible() and self.has_after() and self._after.split < 1.0


class ResultView(QWidget):
    """The compare view plus its controls: split slider, Before toggle, Fit, 100 %, zoom readout."""

    splitChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = CompareView(
            "Drop a source portrait and a reference expression here\n"
            "(or use File ▸ Open). The edited photo appears here."
        )
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
        layout.addWidget(self.view, 1)
        layout.addLayout(bar)

    def _split_moved(self, value: int) -> None:
        # Slider 0 = all after; 100 = all before (the split line moves right).
        self.view.set_split(value / 100.0)
        self.splitChanged.emit(value / 100.0)

    def set_before(self, image: QImage | None) -> None:
        self.view.set_image(image)

    def set_after(self, image: QImage | None, size: tuple[int, int] | None = None) -> None:
        self.view.set_after(image, size)
