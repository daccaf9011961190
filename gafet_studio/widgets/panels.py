"""The source panel (photo + face picker) and the reference panel (photo or expression preset).

Faces are numbered as the command line numbers them (``gafet edit --face N --reference-face N``):
from 0, left to right (the analyser sorts faces by their box centre). Boxes, thumbnails and the
captions ("face N of M") all use that number (:func:`face_caption`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy, QWidget

from core.geometry.presets import user_presets_dir
from gafet_studio.session import ReferenceState, SourceState
from gafet_studio.widgets.drop_panel import DropPanel
from gafet_studio.widgets.face_picker import FacePicker


def bundled_preset_folder() -> Path:
    return Path(str(resources.files("resources").joinpath("presets")))


def user_preset_folder() -> Path:
    return user_presets_dir()


def preset_files() -> list[Path]:
    """Bundled presets, then the user's own (saved from the Studio), each sorted by name."""
    out: list[Path] = []
    for folder in (bundled_preset_folder(), user_preset_folder()):
        if folder.is_dir():
            out += sorted(folder.glob("*.json"))
    return out


def face_caption(index: int, count: int) -> str:
    """" · face N of M" for a photo with several faces (N counted from 0 at the left, as the
    CLI's --face and --reference-face count), "" for one face."""
    return f" · face {index} of {count}" if count > 1 else ""


FACE_NUMBERING_TIP = (
    "Faces are numbered from 0, left to right, as gafet edit --face / --reference-face count them."
)


class SourcePanel(DropPanel):
    faceChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Source", "Drop the portrait to edit here\n(or click Open…)", parent)
        self.open_button.setToolTip("Open the portrait to edit (Ctrl+O)")
        self.picker = FacePicker()
        self.picker.faceChosen.connect(self.faceChosen)
        self.view.boxClicked.connect(self.faceChosen)
        self.body.addWidget(self.picker)

    def show_source(self, state: SourceState | None) -> None:
        if state is None:
            self.view.set_image(None)
            self.picker.set_faces([], -1)
            self.set_caption("")
            return
        self.view.set_image(state.image)
        self.view.set_boxes(state.boxes, state.face_index)
        self.picker.set_faces(state.thumbs, state.face_index)
        w, h = state.size
        self.set_caption(f"{state.path.name} · {w}×{h}{face_caption(state.face_index, len(state.boxes))}")


class ReferencePanel(DropPanel):
    PLACEHOLDER = (
        "Drop a photo with the expression to copy here,\nor pick an expression preset above,\n"
        "or drop a video to drive the portrait with"
    )
    presetChosen = Signal(object)  # Path
    presetFileRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Reference", self.PLACEHOLDER, parent)
        self.open_button.setToolTip("Open a reference expression photo (Ctrl+R)")
        self.presets = QComboBox()
        self.presets.setToolTip("Use a saved expression instead of a photo")
        # as wide as its first item, whatever the presets' names: the column keeps its width
        self.presets.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.presets.setMinimumContentsLength(8)
        self.presets.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.presets.activated.connect(self._activated)
        self.header.insertWidget(self.HEADER_EXTRA, self.presets)
        self.refresh_presets()

    def refresh_presets(self) -> None:
        self.presets.blockSignals(True)
        self.presets.clear()
        self.presets.addItem("Preset…", None)
        for path in preset_files():
            self.presets.addItem(path.stem.replace("_", " "), str(path))
        self.presets.addItem("Load preset file…", "__file__")
        self.presets.setCurrentIndex(0)
        self.presets.blockSignals(False)

    def _activated(self, index: int) -> None:
        data = self.presets.itemData(index)
        self.presets.setCurrentIndex(0)
        if data == "__file__":
            self.presetFileRequested.emit()
        elif data:
            self.presetChosen.emit(Path(data))

    def show_reference(self, state: ReferenceState | None) -> None:
        self.view.set_placeholder(self.PLACEHOLDER)
        if state is None:
            self.view.set_image(None)
            self.set_caption("")
            return
        if state.kind == "preset":
            self.view.set_image(None)
            self.view.set_placeholder(
                f"Expression preset\n“{state.label}”\n\nDrop a photo to use a photo instead"
            )
            self.set_caption(f"preset · {state.label}")
            return
        self.view.set_image(state.image)
        self.view.set_boxes(state.boxes, state.face_index)
        w, h = state.image.width(), state.image.height()
        self.set_caption(f"{state.label} · {w}×{h}{face_caption(state.face_index, len(state.boxes))}")
