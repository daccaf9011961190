"""Batch: apply the current reference and sliders to every photo of a folder (in a worker).

Uses :func:`core.editing.batch.run_batch` with a private pipeline on the side pool, so the
Studio's own renders stay live while a batch runs. Each file is reported as it finishes (bad
files are listed with their reason and skipped); Cancel stops after the current file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.editing.params import EditParams
from core.editing.spec import EditorSpec, build_editor
from gafet_studio.jobs import describe_error
from gafet_studio.session import Session
from gafet_studio.workers import FunctionWorker, aux_pool

if TYPE_CHECKING:
    from core.editing.batch import BatchItem
    from core.editing.pipeline import PreparedReference

FORMATS = {"Same as each photo": None, "PNG": ".png", "JPEG": ".jpg", "WebP": ".webp"}
# What the worker reports: the number of files first, then each file's outcome.
BatchEvent = tuple[Literal["total"], int] | tuple[Literal["item"], "BatchItem"]


@dataclass(frozen=True)
class BatchTemplate:
    """What a batch applies, taken from the session when the dialog opens.

    label: the reference's name (the summary line). crop_size: the Studio's crop, R px.
    """

    reference: PreparedReference
    reference_path: Path | None
    label: str
    params: EditParams
    editor: EditorSpec
    crop_size: int

    @classmethod
    def of(cls, session: Session, crop_size: int) -> BatchTemplate:
        """The session's reference, sliders and editor (it must have a reference)."""
        ref = session.reference
        if ref is None:
            raise ValueError("a batch needs a reference")
        return cls(reference=ref.prepared, reference_path=ref.path, label=ref.label, params=session.params,
                   editor=session.editor, crop_size=crop_size)


@dataclass(frozen=True)
class BatchJob:
    folder: Path
    out_dir: Path
    extension: str | None
    quality: int
    overwrite: bool
    reference: PreparedReference
    reference_path: Path | None
    params: EditParams
    editor: EditorSpec
    crop_size: int


def run_batch_job(
    job: BatchJob, cancel: threading.Event, progress: Callable[[BatchEvent], None]
) -> tuple[int, int, bool]:
    """Worker body: returns (edited, failed, cancelled); reports ('total', n) then each BatchItem."""
    from core.editing.batch import BatchOptions, list_sources, run_batch
    from core.editing.pipeline import EditPipeline

    editor = build_editor(job.editor)  # a GaFET model: from the registry's cache
    pipeline = EditPipeline(editor=editor, crop_size=job.crop_size)
    sources = list_sources(job.folder)
    progress(("total", len(sources)))
    options = BatchOptions(extension=job.extension, quality=job.quality, overwrite=job.overwrite)
    protect = (job.reference_path,) if job.reference_path is not None else ()
    ok = failed = 0
    for item in run_batch(
        pipeline=pipeline,
        sources=sources,
        reference=job.reference,
        params=job.params,
        out_dir=job.out_dir,
        options=options,
        protect=protect,
    ):
        ok, failed = ok + item.ok, failed + (not item.ok)
        progress(("item", item))
        if cancel.is_set():
            return ok, failed, True
    return ok, failed, False


class BatchDialog(QDialog):
    finished_batch = Signal(int, int, bool)  # edited, failed, cancelled

    def __init__(self, *, template: BatchTemplate, start_folder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch edit a folder")
        self.resize(620, 460)
        self._template = template
        self._cancel = threading.Event()
        self._running = False
        self.folder = QLineEdit(start_folder)
        self.out_dir = QLineEdit(str(Path(start_folder) / "edited"))
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(95)
        self.overwrite = QCheckBox("Replace files that already exist in the output folder")
        form = QFormLayout()
        form.addRow("Photos in", self._with_browse(self.folder))
        form.addRow("Save to", self._with_browse(self.out_dir))
        form.addRow("Format", self.format)
        form.addRow("Quality", self.quality)
        form.addRow("", self.overwrite)
        self.summary = QLabel(
            f"Reference: {template.label} · intensity {template.params.alpha * 100:.0f}% · "
            "the current sliders"
        )
        self.summary.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setValue(0)
        self.log = QListWidget()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel.set)
        self.cancel_button.setEnabled(False)
        self.close_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.bar)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(edit, 1)
        b = QPushButton("Browse…")
        b.clicked.connect(lambda: self._browse(edit))
        h.addWidget(b)
        return row

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    def is_running(self) -> bool:
        return self._running

    def start(self) -> None:
        if self._running:
            return
        folder, out_dir = Path(self.folder.text()).expanduser(), Path(self.out_dir.text()).expanduser()
        if not folder.is_dir():
            self.status.setText(f"'{folder}' is not a folder.")
            return
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self.status.setText(f"Cannot create the output folder '{out_dir}': {err.strerror or err}.")
            return
        t = self._template
        job = BatchJob(
            folder=folder,
            out_dir=out_dir,
            extension=FORMATS[self.format.currentText()],
            quality=self.quality.value(),
            overwrite=self.overwrite.isChecked(),
            reference=t.reference,
            reference_path=t.reference_path,
            params=t.params,
            editor=t.editor,
            crop_size=t.crop_size,
        )
        self._cancel.clear()
        self._running = True
        self.log.clear()
        self.status.setText("Working…")
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.close_button.setEnabled(False)
        worker = FunctionWorker(run_batch_job, job, self._cancel)
        worker.signals.progress.connect(self._progress)
        worker.signals.returned.connect(self._done)
        worker.signals.errored.connect(self._failed)
        worker.start(aux_pool())

    def _progress(self, event: BatchEvent) -> None:
        if event[0] == "total":
            total = event[1]
            self.bar.setRange(0, max(1, total))
            self.bar.setValue(0)
            if total == 0:
                self.status.setText("The folder has no files.")
            return
        item = event[1]
        self.bar.setValue(self.bar.value() + 1)
        if item.ok:
            self.log.addItem(f"✔ {item.source.name} → {item.output.name}")
        else:
            self.log.addItem(f"✖ {item.source.name}: {item.error}")
        self.log.scrollToBottom()

    def _finish(self) -> None:
        self._running = False
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)

    def _done(self, result: tuple[int, int, bool]) -> None:
        ok, failed, cancelled = result
        self._finish()
        self.status.setText(
            f"{'Cancelled: ' if cancelled else 'Done: '}{ok} edited, {failed} skipped"
            f"{' (see the reasons above)' if failed else ''}."
        )
        self.finished_batch.emit(ok, failed, cancelled)

    def _failed(self, exc: BaseException) -> None:
        self._finish()
        self.status.setText(describe_error(exc))
        self.finished_batch.emit(0, 0, False)

    def reject(self) -> None:
        if self._running:  # closing while running: cancel, keep the dialog until the worker ends
            self._cancel.set()
            return
        super().reject()
