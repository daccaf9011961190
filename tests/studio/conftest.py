"""Studio test fixtures: isolated settings, a main window, and a guard that fails any test leaving a
worker running (napari's ``_dangling_qthread_pool`` idea). Helpers that drive the window (drops,
waits) are in ``tests/helpers/studio.py``."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, QThreadPool
from PySide6.QtWidgets import QApplication

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
