"""A titled panel that shows an image and accepts dropped files (and has an Open… button).

The panel does not decide what a drop means: it emits :attr:`DropPanel.filesDropped` with the
local paths (files and folders as dropped) and the controller sorts them out. Its caption is
elided to the room it has (the full text is the tooltip), so loading a photo with a long name
never widens the column; :attr:`DropPanel.progress` is the overlay shown while the panel's photo
is being analysed.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from gafet_studio.widgets.image_view import ImageView
from gafet_studio.widgets.overlay import ProgressOverlay


def paths_from_mime(mime: QMimeData) -> list[Path]:
    """The local files/folders in dropped data (remote URLs are skipped)."""
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


class ElidedLabel(QLabel):
    """One line of text, elided in the middle to the width the layout gives it: it never asks
    for more (its size hint is small), so a long text cannot push its column wider."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(20)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, max(0, self.width()))
        if shown != self.text():
            self.setText(shown)


class DropPanel(QFrame):
    HEADER_EXTRA = 2  # where a subclass inserts a control in :attr:`header` (before Open…)

    filesDropped = Signal(list)  # list[Path]
    openRequested = Signal()

    def __init__(self, title: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("dropPanel")
        self._title = QLabel(f"<b>{title}</b>")
        self._caption = ElidedLabel("")
        self._caption.setStyleSheet("color: palette(mid);")
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.openRequested)
        self.view = ImageView(placeholder)
        # the title row (subclasses insert their own controls before Open…: index HEADER_EXTRA),
        # then the caption on a row of its own, then the picture
        self.header = QHBoxLayout()
        self.header.addWidget(self._title)
        self.header.addStretch(1)
        self.header.addWidget(self.open_button)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(6, 6, 6, 6)
        self.body.setSpacing(4)
        self.body.addLayout(self.header)
        self.body.addWidget(self._caption)
        self.body.addWidget(self.view, 1)
        self.progress = ProgressOverlay(self.view)
        self._set_highlight(False)

    def set_caption(self, text: str) -> None:
        self._caption.set_full_text(text)

    def caption(self) -> str:
        """The caption's full text (what shows may be elided)."""
        return self._caption.full_text()

    def _set_highlight(self, on: bool) -> None:
        colour = "#2e86c1" if on else "transparent"
        self.setStyleSheet(f"#dropPanel {{ border: 2px dashed {colour}; border-radius: 4px; }}")

    # -- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self._set_highlight(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self._set_highlight(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_highlight(False)
        paths = paths_from_mime(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.filesDropped.emit(paths)
