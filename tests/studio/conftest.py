"""Studio test fixtures: isolated settings, a main window, drop helpers, and a guard that fails any
test leaving a worker running (napari's ``_dangling_qthread_pool`` idea)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QThreadPool, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

WORKER_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def no_dangling_workers(qapp):
    """After each test: every worker (global pool and the Studio's pools) must finish."""
    yield
    from gafet_studio.workers import all_pools

    pools = [QThreadPool.globalInstance(), *all_pools()]
    for pool in pools:
        pool.waitForDone(WORKER_TIMEOUT_MS)
    running = {p.objectName() or "global": p.activeThreadCount() for p in pools if p.activeThreadCount()}
    QApplication.processEvents()  # deliver the finished workers' queued signals
    assert not running, f"workers still running after the test: {running}"


@pytest.fixture
def settings(tmp_path):
    """Settings in a throw-away INI file (never the user's)."""
    from gafet_studio.settings import Settings

    return Settings(QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, settings, app_assets):
    from gafet_studio.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def mime_for(paths: Sequence[Path | str]) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drop(widget: QWidget, paths: Sequence[Path | str]) -> QDropEvent:
    """Deliver a real drag-enter + drop of ``paths`` (file URLs) to ``widget``; returns the drop event."""
    mime = mime_for(paths)
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the widget refused the drag"
    event = QDropEvent(
        pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)
    return event


def wait_idle(qtbot, window, timeout: int = 120_000) -> None:
    """Wait until the session has no task running (loads, renders, exports)."""
    qtbot.waitUntil(lambda: not window.session.busy(), timeout=timeout)


def wait_result(qtbot, window, condition=lambda: True, timeout: int = 180_000) -> None:
    """Wait until the session shows the final result of its current state and ``condition()``
    holds; fail at once (with the message) if the Studio reports an error meanwhile."""
    errors = []

    def on_notice(notice) -> None:
        if notice.level == "error":
            errors.append(notice.text)

    window.session.notified.connect(on_notice)
    try:
        qtbot.waitUntil(
            lambda: bool(errors) or (window.session.result_is_current() and bool(condition())),
            timeout=timeout,
        )
    finally:
        window.session.notified.disconnect(on_notice)
    assert not errors, f"the Studio reported: {errors}"
    wait_idle(qtbot, window)
