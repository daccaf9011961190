"""Loading torch and the face networks in the background, with progress, after the window shows.

:func:`warm_up_job` (a worker body, no Qt state) imports torch and the edit pipeline's code and
builds the shared pipeline (:func:`gafet_studio.jobs.base_pipeline`), reporting a
:class:`WarmUpProgress` at each step. :class:`WarmUp` runs it on the pipeline pool
(:func:`gafet_studio.workers.studio_pool`, one thread), so photos dropped meanwhile queue behind
it and are analysed as soon as the networks are ready; while it runs, :attr:`WarmUp.progress`
says how far it got and the window shows that on the panels that wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QObject, Signal

from gafet_studio.session import Session, Task
from gafet_studio.workers import FunctionWorker, studio_pool

log = logging.getLogger(__name__)

# The steps' shares of the whole (measured on the 2-core reference machine: importing torch is
# most of it; building the networks reads their weights).
STEPS = (
    (0.00, "Loading PyTorch…"),
    (0.60, "Loading the face pipeline…"),
    (0.75, "Building the face networks…"),
)


@dataclass(frozen=True)
class WarmUpProgress:
    """fraction: 0..1 of the warm-up done; text: the step under way."""

    fraction: float
    text: str


def warm_up_job(crop_size: int, progress: Callable[[WarmUpProgress], None] | None = None) -> None:
    """Import torch and the pipeline's code, then build the shared pipeline of ``crop_size``
    (pool thread only: the pipeline pool's single thread)."""
    report = progress or (lambda _: None)
    report(WarmUpProgress(*STEPS[0]))
    import torch  # noqa: F401  (the longest step: its import)

    report(WarmUpProgress(*STEPS[1]))
    import core.editing.pipeline
    import core.editing.warp.editor  # noqa: F401

    report(WarmUpProgress(*STEPS[2]))
    from gafet_studio.jobs import base_pipeline

    base_pipeline(crop_size)
    report(WarmUpProgress(1.0, "The face models are ready."))


class WarmUp(QObject):
    """Runs :func:`warm_up_job` once on the pipeline pool; the session is busy with
    ``Task.WARMUP`` meanwhile. ``job`` can be replaced (tests slow it down)."""

    progressed = Signal(object)  # WarmUpProgress
    finished = Signal()

    def __init__(self, session: Session, crop_size: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.crop_size = crop_size
        self.job: Callable[..., None] = warm_up_job
        self.progress = WarmUpProgress(0.0, STEPS[0][1])
        self._started = False
        self.done = False

    def start(self) -> None:
        """Start the warm-up (once; later calls do nothing)."""
        if self._started:
            return
        self._started = True
        self.session.set_busy(Task.WARMUP, True)
        worker = FunctionWorker(self.job, self.crop_size)
        worker.signals.progress.connect(self._progressed)
        worker.signals.errored.connect(
            lambda exc: log.warning("warm-up failed (the first analysis reports it): %s", exc)
        )
        worker.signals.finished.connect(self._finished)
        worker.start(studio_pool())

    def _progressed(self, p: WarmUpProgress) -> None:
        if shiboken6.isValid(self):
            self.progress = p
            self.progressed.emit(p)

    def _finished(self) -> None:
        """Done, or failed: an error shows when a photo is analysed (the same build runs again)."""
        if shiboken6.isValid(self) and shiboken6.isValid(self.session):
            self.done = True
            self.session.set_busy(Task.WARMUP, False)
            self.finished.emit()
