"""A titled panel that shows an image and accepts dropped files (and has an Open… button).

The panel does not decide what a drop means: it emits :attr:`DropPanel.filesDropped` with the
local paths (files and folders as dropped) and the controller sorts them out.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gafet_studio.widgets.image_view import ImageView


def paths_from_mime(mime: QMimeData) -> list[Path]:
    """The local files/folders in dropped data (remote URLs are skipped)."""
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


class DropPanel(QFrame):
    filesDropped = Signal(list)  # list[Path]
    openRequested = Signal()

    def __init__(self, title: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("dropPanel")
        self._title = QLabel(f"<b>{title}</b>")
        self._caption = QLabel("")
        self._caption.setStyleSheet("color: palette(mid);")
        self._caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.openRequested)
        self.view = ImageView(placeholder)
        self.header = QHBoxLayout()
        self.header.addWidget(self._title)
        self.header.addWidget(self._caption, 1)
        self.header.addWidget(self.open_button)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(6, 6, 6, 6)
        self.body.addLayout(self.header)
        self.body.addWidget(self.view, 1)
        self._set_highlight(False)

    def set_caption(self, text: str) -> None:
        self._caption.setText(text)
        self._caption.setToolTip(text)

    def caption(self) -> str:
        return self._caption.text()

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
