"""Face picker: numbered thumbnails of every face found in the source photo; click to edit one.

Shown only when the photo has more than one face. The same choice can be made by clicking a
numbered box on the source image (:class:`~gafet_studio.widgets.image_view.ImageView`). Faces
are numbered from 0, left to right, as the command line's ``--face`` counts them.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem


class FacePicker(QListWidget):
    faceChosen = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(56, 56))
        self.setFixedHeight(84)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setToolTip(
            "Faces found in the source photo, numbered from 0 at the left (as gafet edit --face "
            "counts them): click one to edit it"
        )
        self.itemClicked.connect(self._clicked)
        self.hide()

    def set_faces(self, thumbs: Sequence[QImage], selected: int) -> None:
        self.blockSignals(True)
        self.clear()
        for i, img in enumerate(thumbs):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(img)), f"{i}")
            item.setData(Qt.ItemDataRole.UserRole, i)
            item.setToolTip(f"Face {i} (gafet edit --face {i})")
            self.addItem(item)
        if 0 <= selected < self.count():
            self.setCurrentRow(selected)
        self.blockSignals(False)
        self.setVisible(len(thumbs) > 1)

    def _clicked(self, item: QListWidgetItem) -> None:
        self.faceChosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))
