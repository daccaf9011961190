"""The intents that need a dialog first: open a file, name a preset, export, batch, about.

:class:`StudioDialogs` asks (file dialogs, a name, a confirmation, the export and batch dialogs)
and hands what the user chose to the controller; the window and its menus call it. Dialogs are
parented to the window, and remember their folders in the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from core.geometry.presets import InvalidPresetNameError, check_preset_name, preset_path
from gafet_studio.controller import IMAGE_SUFFIXES, Controller
from gafet_studio.session import NoticeLevel
from gafet_studio.video_driving import VIDEO_SUFFIXES, is_video_name
from gafet_studio.widgets.panels import user_preset_folder

if TYPE_CHECKING:  # imported when first asked for: the window shows sooner
    from gafet_studio.widgets.batch_dialog import BatchDialog
    from gafet_studio.widgets.export_dialog import ExportDialog

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;All files (*)"
_IMAGES = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
_VIDEOS = " ".join(f"*{s}" for s in VIDEO_SUFFIXES)
# the reference may also be a driving video (issue 14)
REFERENCE_FILTER = (f"Images and videos ({_IMAGES} {_VIDEOS});;Images ({_IMAGES});;Videos ({_VIDEOS});;"
                    "All files (*)")
MODEL_FILTER = "GaFET checkpoints (*.safetensors);;All files (*)"
PRESET_FILTER = "Expression presets (*.json)"


class StudioDialogs(QObject):
    def __init__(self, parent: QWidget, controller: Controller) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.controller = controller
        self.settings = controller.settings
        self.session = controller.session

    def _ask_file(self, caption: str, folder: str, filters: str) -> str:
        """A file the user picked ('' if cancelled)."""
        name, _ = QFileDialog.getOpenFileName(self.parent_widget, caption, folder, filters)
        return name

    def choose_source(self) -> None:
        name = self._ask_file("Open source portrait", self.settings.last_folder("open"), IMAGE_FILTER)
        if name:
            self.controller.open_source(name)

    def choose_reference(self) -> None:
        """A reference photo, or a driving video (the window's video mode takes it)."""
        name = self._ask_file("Open reference expression or driving video", self.settings.last_folder("open"),
                              REFERENCE_FILTER)
        video_mode = getattr(self.parent_widget, "video", None)
        if name and is_video_name(name) and video_mode is not None:
            video_mode.open_video(name)
        elif name:
            self.controller.open_reference(name)

    def choose_preset(self) -> None:
        name = self._ask_file("Load expression preset", self.settings.last_folder("preset"), PRESET_FILTER)
        if name:
            self.controller.open_reference(name)

    def choose_model(self) -> None:
        """File ▸ Open Model…: pick a checkpoint; it loads in a worker, then is listed and chosen."""
        start = self.settings.last_folder("model")  # home when none is remembered yet
        if start == str(Path.home()) and self.controller.models_folder.is_dir():
            start = str(self.controller.models_folder)
        name = self._ask_file("Open GaFET model", start, MODEL_FILTER)
        if name:
            self.controller.open_model(name)

    def save_preset(self) -> None:
        """Ask for a name; save the current expression to the user's presets (confirm a replace)."""
        if self.session.result is None:
            self.session.notify(
                NoticeLevel.WARNING, "There is no expression to save yet: load a source and a reference."
            )
            return
        name, ok = QInputDialog.getText(
            self.parent_widget,
            "Save expression preset",
            "Name (letters, digits, spaces, '_', '.', '-'):",
            text="my expression",
        )
        name = name.strip()
        if not ok or not name:
            return
        try:
            check_preset_name(name)
        except InvalidPresetNameError as err:
            self.session.notify(NoticeLevel.ERROR, str(err))
            return
        folder = user_preset_folder()
        overwrite = preset_path(folder, name).exists()
        if overwrite and QMessageBox.question(
            self.parent_widget, "Replace preset?", f"A preset named '{name}' exists. Replace it?"
        ) != QMessageBox.StandardButton.Yes:
            return
        self.controller.save_preset(name, folder, overwrite=overwrite)

    def make_export_dialog(self) -> ExportDialog | None:
        s = self.session
        if s.source is None or s.reference is None:
            s.notify(
                NoticeLevel.WARNING,
                "Load a source portrait and a reference first; there is nothing to export yet.",
            )
            return None
        from gafet_studio.widgets.export_dialog import ExportDialog

        protect = [p for p in (s.source.path, s.reference.path) if p is not None]
        return ExportDialog(
            settings=self.settings,
            source_path=s.source.path,
            photo_size=s.source.size,
            crop_size=self.controller.engine.crop_size,
            protect=protect,
            parent=self.parent_widget,
        )

    def export(self) -> None:
        dialog = self.make_export_dialog()
        if dialog is not None and dialog.exec() and dialog.request is not None:
            if self.controller.export(dialog.request):
                from gafet_studio.widgets.export_dialog import ExportProgressDialog

                ExportProgressDialog(self.controller.engine, parent=self.parent_widget).show()

    def make_batch_dialog(self) -> BatchDialog | None:
        s = self.session
        if s.reference is None:
            s.notify(
                NoticeLevel.WARNING,
                "Choose a reference photo or preset first: the batch applies it to every photo.",
            )
            return None
        from gafet_studio.widgets.batch_dialog import BatchDialog, BatchTemplate

        return BatchDialog(
            template=BatchTemplate.of(s, self.controller.engine.crop_size),
            start_folder=self.settings.last_folder("open"),
            parent=self.parent_widget,
        )

    def batch(self) -> None:
        dialog = self.make_batch_dialog()
        if dialog is not None:
            dialog.finished_batch.connect(
                lambda ok, bad, cancelled: self.session.notify(
                    NoticeLevel.WARNING if bad else NoticeLevel.INFO,
                    f"Batch {'cancelled' if cancelled else 'finished'}: {ok} edited, {bad} skipped.",
                )
            )
            dialog.exec()

    def about(self) -> None:
        QMessageBox.about(
            self.parent_widget,
            "About GaFET Studio",
            "GaFET Studio puts a reference photo's facial expression on a source portrait "
            "(GaFET, ICCV 2023), keeping identity, pose, hair, lighting and background.",
        )
