"""The main window's status bar: what the Studio is busy with, the last render's timings, the editor.

Left: a message (the task running, or a notice for 10 s). Right, permanently: a busy bar while
anything runs, the timings of the picture on show, and ``Editor: <name>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from gafet_studio.session import Task

if TYPE_CHECKING:
    from core.editing.pipeline import Timings

HINT = "Drop a source portrait and a reference expression photo to begin."
NOTICE_MS = 10_000  # how long a notice stays in the status bar
BUSY_TEXT = {
    Task.SOURCE: "Analysing the source face…",
    Task.REFERENCE: "Analysing the reference…",
    Task.RENDER: "Rendering…",
    Task.EXPORT: "Exporting…",
    Task.PRESET: "Saving preset…",
    Task.WARMUP: "Loading the face models…",
    Task.MODEL: "Loading the GaFET model…",
    Task.MODELS: "Looking for GaFET models…",
}  # one per Task


class StudioStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.hide()
        self.timings_label = QLabel("")
        self.editor_label = QLabel("")
        self.addPermanentWidget(self.busy_bar)
        self.addPermanentWidget(self.timings_label)
        self.addPermanentWidget(self.editor_label)
        self.showMessage(HINT)

    def show_busy(self, task: Task, busy: bool, anything_busy: bool) -> None:
        """``task`` started or ended; ``anything_busy``: whether any task still runs."""
        self.busy_bar.setVisible(anything_busy)
        if busy:
            self.showMessage(BUSY_TEXT[task])
        elif not anything_busy:
            self.clearMessage()

    def show_notice(self, text: str) -> None:
        self.showMessage(text, NOTICE_MS)

    def show_timings(self, t: Timings | None) -> None:
        """The pipeline's timings of the picture on show (blank when none is)."""
        self.timings_label.setText(
            ""
            if t is None
            else f"geometry {t.interpolate_ms:.0f} ms · render {t.render_ms:.0f} ms · "
            f"editor {t.editor_ms:.0f} ms · paste {t.paste_ms:.0f} ms · total {t.total_ms:.0f} ms"
        )

    def show_editor(self, label: str) -> None:
        self.editor_label.setText(f"Editor: {label}")
