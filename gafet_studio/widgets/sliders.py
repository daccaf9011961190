"""Edit sliders: a labelled percent slider, and the intensity + region sliders panel.

A :class:`PercentSlider` reports ``moved(value, gesture)``: every change made during one mouse
drag carries the same gesture id (so the undo stack merges the drag into one step); keyboard and
wheel steps each get a gesture of 0 (one undo step each). ``set_value`` updates the display
without emitting (the session drives the sliders; the sliders only report intent).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.editing.params import REGION_NAMES, EditParams
from gafet_studio.undo import new_gesture

REGION_LABELS = {
    "brows": "Brows",
    "eyes": "Eyes",
    "nose": "Nose",
    "mouth": "Mouth",
    "jaw": "Jaw",
    "cheeks": "Cheeks",
}


class PercentSlider(QWidget):
    """A horizontal slider in percent (0..max_percent) with a value readout. Values are fractions."""

    moved = Signal(float, int)  # value (1.0 = 100 %), gesture id

    def __init__(self, max_percent: int = 100, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, max_percent)
        self.slider.setPageStep(10)
        self.readout = QLabel()
        self.readout.setMinimumWidth(44)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.readout)
        self._gesture = 0
        self.slider.sliderPressed.connect(self._begin)
        self.slider.sliderReleased.connect(self._end)
        self.slider.valueChanged.connect(self._changed)
        self._show(self.slider.value())

    def value(self) -> float:
        return self.slider.value() / 100.0

    def set_value(self, value: float) -> None:
        """Show ``value`` without emitting ``moved``."""
        v = int(round(value * 100))
        if v != self.slider.value():
            self.slider.blockSignals(True)
            self.slider.setValue(v)
            self.slider.blockSignals(False)
        self._show(v)

    def _begin(self) -> None:
        self._gesture = new_gesture()

    def _end(self) -> None:
        self._gesture = 0

    def _changed(self, v: int) -> None:
        self._show(v)
        self.moved.emit(v / 100.0, self._gesture if self.slider.isSliderDown() else 0)

    def _show(self, v: int) -> None:
        self.readout.setText(f"{v}%")


class EditSliders(QWidget):
    """Intensity (0–150 %) and one weight slider per face region, plus Reset."""

    alphaMoved = Signal(float, int)
    regionMoved = Signal(str, float, int)
    resetRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.intensity = PercentSlider(150)
        self.intensity.setToolTip(
            "How far to move towards the reference expression: 0% = the source's own, "
            "100% = the reference's, up to 150% = exaggerated"
        )
        self.intensity.moved.connect(self.alphaMoved)
        regions = QGroupBox("Regions")
        form = QFormLayout(regions)
        form.setContentsMargins(6, 6, 6, 6)
        self.regions: dict[str, PercentSlider] = {}
        for name in REGION_NAMES:
            s = PercentSlider(150)
            s.setToolTip(
                f"How much of the change reaches the {REGION_LABELS.get(name, name).lower()} "
                "(100% = as much as the intensity)"
            )
            s.moved.connect(lambda v, g, n=name: self.regionMoved.emit(n, v, g))
            self.regions[name] = s
            form.addRow(REGION_LABELS.get(name, name.title()), s)
        reset = QPushButton("Reset sliders")
        reset.setToolTip("Intensity 100%, every region 100%, no action-unit overrides (undoable)")
        reset.clicked.connect(self.resetRequested)
        top = QFormLayout()
        top.addRow("<b>Intensity</b>", self.intensity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(regions)
        layout.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)
        self.show_params(EditParams())

    def show_params(self, params: EditParams) -> None:
        self.intensity.set_value(params.alpha)
        for name, w in params.region_weights().items():
            if name in self.regions:
                self.regions[name].set_value(w)
