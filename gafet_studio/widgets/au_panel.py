"""Per-action-unit sliders in a collapsible group, with plain-language names.

Each slider is an absolute target intensity (0–100 %). Until the user touches one it follows the
expression being rendered (the result's target AUs) and is marked "auto"; touching it sets an
override, which its ✕ button clears again.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from core.editing.params import AU_NAMES, EditParams
from gafet_studio.widgets.sliders import PercentSlider

AU_PLAIN_NAMES = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer (frown)",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener (squint)",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU11": "nasolabial deepener",
    "AU12": "smile",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU17": "chin raiser",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU24": "lip pressor",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU28": "lip suck",
    "AU43": "eyes closed",
}


def au_label(au: str) -> str:
    """'AU12' -> 'smile (AU12)'."""
    plain = AU_PLAIN_NAMES.get(au)
    return f"{plain} ({au})" if plain else au


class AuPanel(QWidget):
    """A header button that folds the AU sliders in and out, and the sliders."""

    auMoved = Signal(str, float, int)  # AU name, value, gesture
    auCleared = Signal(str)
    resetRequested = Signal()

    def __init__(self, au_names: Sequence[str] = AU_NAMES, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton()
        self.toggle.setText("Action units (advanced)")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.toggle.toggled.connect(self.set_expanded)
        self.body = QWidget()
        grid = QGridLayout(self.body)
        grid.setContentsMargins(4, 0, 0, 0)
        grid.setVerticalSpacing(2)
        self.sliders: dict[str, PercentSlider] = {}
        self.labels: dict[str, QLabel] = {}
        self.clear_buttons: dict[str, QToolButton] = {}
        for row, au in enumerate(au_names):
            label = QLabel(au_label(au))
            slider = PercentSlider(100)
            slider.slider.setMinimumWidth(80)
            slider.setToolTip(f"{au_label(au)}: target intensity. 'auto' follows the reference.")
            slider.moved.connect(lambda v, g, a=au: self.auMoved.emit(a, v, g))
            clear = QToolButton()
            clear.setText("✕")
            clear.setAutoRaise(True)
            clear.setToolTip(f"Back to auto: take {au} from the reference")
            clear.clicked.connect(lambda _=False, a=au: self.auCleared.emit(a))
            grid.addWidget(label, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(clear, row, 2)
            self.sliders[au], self.labels[au], self.clear_buttons[au] = slider, label, clear
        grid.setColumnStretch(1, 1)
        legend = QLabel("<i>italic</i> = auto (follows the reference); ✕ = back to auto")
        legend.setStyleSheet("color: palette(mid); font-size: 10px;")
        grid.addWidget(legend, len(au_names), 0, 1, 3)
        reset = QPushButton("Reset action units")
        reset.clicked.connect(self.resetRequested)
        grid.addWidget(reset, len(au_names) + 1, 0, 1, 3, Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)
        self._overrides: dict[str, float] = {}
        self.set_expanded(False)
        self.show_params(EditParams())

    def set_expanded(self, on: bool) -> None:
        if self.toggle.isChecked() != on:
            self.toggle.setChecked(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)

    def is_expanded(self) -> bool:
        return self.toggle.isChecked()

    def show_params(self, params: EditParams) -> None:
        """Mark overridden AUs and set their sliders."""
        self._overrides = dict(params.au_overrides)
        for au, slider in self.sliders.items():
            manual = au in self._overrides
            if manual:
                slider.set_value(self._overrides[au])
            font = self.labels[au].font()
            font.setItalic(not manual)
            font.setBold(manual)
            self.labels[au].setFont(font)
            self.clear_buttons[au].setEnabled(manual)

    def show_target(self, target_aus: Sequence[float] | None, au_names: Sequence[str] = AU_NAMES) -> None:
        """Move the 'auto' sliders to the rendered expression's AU values."""
        if target_aus is None:
            return
        for au, value in zip(au_names, target_aus, strict=False):
            if au in self.sliders and au not in self._overrides:
                self.sliders[au].set_value(float(min(1.0, max(0.0, value))))
