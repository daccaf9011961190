"""The editor selector: which editor makes the picture (warp, or a GaFET checkpoint).

A bold "Editor" title over a combo box of the session's :class:`SelectorEntry` list (a bad
checkpoint is listed disabled, its problem as the tooltip) and a "…" button that opens a model
from anywhere. The widget shows state and reports intent: :attr:`chosen` (an
:class:`EditorSpec` the user picked) and :attr:`openRequested`; it never switches the editor.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from core.editing.spec import EditorSpec
from gafet_studio.editors import SelectorEntry


class EditorSelector(QWidget):
    chosen = Signal(object)  # EditorSpec: the user picked this entry (it may still have to load)
    openRequested = Signal()  # the "…" button: open a checkpoint from anywhere

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entries: tuple[SelectorEntry, ...] = ()
        self.combo = QComboBox()
        self.combo.setToolTip("The editor that produces the picture")
        self.open_button = QToolButton()
        self.open_button.setText("…")
        self.open_button.setToolTip("Open a GaFET model (.safetensors) from anywhere")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Editor</b>"))
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.open_button)
        layout.addLayout(row)
        self.combo.activated.connect(self._activated)
        self.open_button.clicked.connect(self.openRequested)

    def show_entries(self, entries: Sequence[SelectorEntry], active: EditorSpec) -> None:
        """List ``entries`` (disabled ones greyed out) and select ``active``."""
        self._entries = tuple(entries)
        combo = self.combo
        combo.blockSignals(True)
        combo.clear()
        model = combo.model()
        assert isinstance(model, QStandardItemModel)  # a QComboBox's own model
        for i, entry in enumerate(self._entries):
            combo.addItem(entry.label)
            combo.setItemData(i, entry.tooltip, Qt.ItemDataRole.ToolTipRole)
            if not entry.enabled:
                model.item(i).setEnabled(False)
        combo.blockSignals(False)
        self.show_active(active)

    def show_active(self, spec: EditorSpec) -> None:
        """Select ``spec``'s entry (blank while it is not listed yet)."""
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(self.index_of(spec))
        self.combo.blockSignals(False)

    def index_of(self, spec: EditorSpec) -> int:
        """The combo row of ``spec``; -1 when it is not listed."""
        return next((i for i, e in enumerate(self._entries) if e.spec == spec), -1)

    def current_spec(self) -> EditorSpec | None:
        """The editor the selector shows (None when blank)."""
        i = self.combo.currentIndex()
        return self._entries[i].spec if 0 <= i < len(self._entries) else None

    def _activated(self, index: int) -> None:
        """The user picked an entry: the selector shows it while it loads; the session switches
        once it loaded (a failure shows the banner and the selector returns to the active one)."""
        if 0 <= index < len(self._entries):
            self.chosen.emit(self._entries[index].spec)
