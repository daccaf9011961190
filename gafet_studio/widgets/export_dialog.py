"""Export dialog: format (PNG, JPEG, WebP), quality, full photo or aligned crop, file name.

It only builds an :class:`~gafet_studio.engine.ExportRequest`; the export itself runs in a
worker. It never lets a file be replaced silently (it asks), and refuses the input photos.
:class:`ExportProgressDialog` follows the running export: a percentage, the step, and Cancel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gafet_studio.jobs import ExportProgress, ExportRequest
from gafet_studio.settings import EXPORT_FORMATS, Settings

SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WebP": ".webp"}
SUFFIXES = {"PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "WebP": (".webp",)}


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


class ExportDialog(QDialog):
    def __init__(
        self,
        *,
        settings: Settings,
        source_path: Path,
        photo_size: tuple[int, int],
        crop_size: int,
        protect: Sequence[Path] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.settings = settings
        self._protect = [Path(p) for p in protect] or [source_path]
        self.request: ExportRequest | None = None
        self.format = QComboBox()
        self.format.addItems(EXPORT_FORMATS)
        self.format.setCurrentText(settings.export_format())
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setSuffix(" %")
        self.quality.setValue(settings.export_quality())
        self.quality.setToolTip("JPEG/WebP compression quality (PNG is lossless)")
        w, h = photo_size
        self.full = QRadioButton(f"Full photo ({w} × {h})")
        self.crop = QRadioButton(f"Aligned face crop ({crop_size} × {crop_size})")
        scope = QButtonGroup(self)
        scope.addButton(self.full)
        scope.addButton(self.crop)
        (self.crop if settings.export_scope() == "crop" else self.full).setChecked(True)
        default = Path(settings.last_folder("export")) / f"{source_path.stem}-edited"
        self.path = QLineEdit(str(default.with_suffix(SUFFIX[self.format.currentText()])))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Quality", self.quality)
        form.addRow("Size", self.full)
        form.addRow("", self.crop)
        form.addRow("File", row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.try_accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.format.currentTextChanged.connect(self._format_changed)
        self._format_changed(self.format.currentText())

    def _format_changed(self, fmt: str) -> None:
        self.quality.setEnabled(fmt != "PNG")
        p = Path(self.path.text().strip() or "edited")
        if p.suffix.lower() not in SUFFIXES[fmt]:
            self.path.setText(str(p.with_suffix(SUFFIX[fmt])))

    def _browse(self) -> None:
        fmt = self.format.currentText()
        pattern = " ".join(f"*{s}" for s in SUFFIXES[fmt])
        name, _ = QFileDialog.getSaveFileName(
            self,
            "Export as",
            self.path.text(),
            f"{fmt} ({pattern})",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if name:
            self.path.setText(name)
            self._format_changed(fmt)

    def confirm_overwrite(self, path: Path) -> bool:
        """Ask before replacing an existing file (tests replace this method)."""
        answer = QMessageBox.question(
            self,
            "Replace file?",
            f"'{path.name}' already exists in {path.parent}.\nReplace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def validate(self) -> ExportRequest | None:
        """The request, or None with the reason shown in the dialog."""
        fmt = self.format.currentText()
        text = self.path.text().strip()
        if not text:
            self.error.setText("Choose a file name.")
            return None
        path = Path(text).expanduser()
        if path.suffix.lower() not in SUFFIXES[fmt]:
            path = path.with_suffix(SUFFIX[fmt])
            self.path.setText(str(path))
        if any(_same_path(path, p) for p in self._protect):
            self.error.setText(
                "That is one of the input photos; the Studio never overwrites its inputs. "
                "Choose another name."
            )
            return None
        if path.is_dir():
            self.error.setText("That is a folder; choose a file name.")
            return None
        if not path.parent.is_dir():
            self.error.setText(f"The folder '{path.parent}' does not exist.")
            return None
        overwrite = False
        if path.exists():
            if not self.confirm_overwrite(path):
                self.error.setText("Not replaced; choose another name.")
                return None
            overwrite = True
        self.error.setText("")
        return ExportRequest(
            path=path,
            quality=self.quality.value(),
            scope="crop" if self.crop.isChecked() else "photo",
            overwrite=overwrite,
        )

    def try_accept(self) -> None:
        request = self.validate()
        if request is None:
            return
        self.settings.set_export_format(self.format.currentText())
        self.settings.set_export_quality(self.quality.value())
        self.settings.set_export_scope(request.scope)
        self.request = request
        self.accept()


class ExportProgressDialog(QProgressDialog):
    """The running export's progress (0-100 %, the step under way) with a Cancel button that stops
    it (:meth:`gafet_studio.engine.Engine.cancel_export`: nothing is written). Closes itself when
    the export ends, however it ends. ``engine``: the Studio's Engine (its ``exportProgress``,
    ``exported`` and ``failed`` signals)."""

    def __init__(self, engine, parent: QWidget | None = None) -> None:
        super().__init__("Exporting…", "Cancel", 0, 100, parent)
        self.setWindowTitle("Export")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._engine = engine
        self.canceled.connect(self._cancel)
        engine.exportProgress.connect(self.show_progress)
        engine.exported.connect(self._done)
        engine.failed.connect(self._failed)

    def show_progress(self, progress: ExportProgress) -> None:
        self.setValue(round(100 * min(1.0, max(0.0, progress.fraction))))
        self.setLabelText(progress.text)

    def _cancel(self) -> None:
        self.setLabelText("Cancelling…")
        self._engine.cancel_export()

    def _failed(self, task: object, _exc: object) -> None:
        if str(task) == "export":
            self._done()

    def _done(self, *_: object) -> None:
        self.canceled.disconnect(self._cancel)  # closing a progress dialog emits canceled
        self.close()
