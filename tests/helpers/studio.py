"""Driving the Studio window in tests: real drops, waiting for the session, the shown picture.

Every ``window`` here is a shown :class:`gafet_studio.main_window.MainWindow` (the ``window``
fixture of ``tests/studio/conftest.py``); ``qtbot`` is pytest-qt's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from gafet_studio.image_convert import from_qimage

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from gafet_studio.main_window import MainWindow
    from gafet_studio.session import Notice
    from tests.conftest import TestMedia


def mime_for(paths: Sequence[Path | str]) -> QMimeData:
    """Mime data holding ``paths`` as file URLs, as a file manager's drag carries them."""
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


def wait_idle(qtbot: QtBot, window: MainWindow, timeout: int = 120_000) -> None:
    """Wait until the session has no task running (loads, renders, exports)."""
    qtbot.waitUntil(lambda: not window.session.busy(), timeout=timeout)


def wait_result(qtbot: QtBot, window: MainWindow, condition: Callable[[], object] = lambda: True,
                timeout: int = 180_000) -> None:
    """Wait until the session shows the final result of its current state and ``condition()``
    holds; fail at once (with the message) if the Studio reports an error meanwhile."""
    errors = []

    def on_notice(notice: Notice) -> None:
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


def load_pair(qtbot: QtBot, window: MainWindow, media: TestMedia, source: str = "happy.jpg",
              reference: str = "surprise.jpg") -> None:
    """Drop a source and a reference photo (test media names) and wait for the edited result."""
    drop(window.source_panel, [media.path(source)])
    drop(window.reference_panel, [media.path(reference)])
    wait_result(qtbot, window)


def shown_after(window: MainWindow) -> np.ndarray:
    """The picture the result view shows as "after" (what the user sees): (H, W, 3) uint8."""
    return from_qimage(window.result_view.view._after.pixmap().toImage())


def set_intensity(qtbot: QtBot, window: MainWindow, percent: int) -> None:
    """Move the intensity slider (its valueChanged, as a user move emits), wait for the picture."""
    slider = window.sliders.intensity.slider
    slider.setValue(percent)
    wait_result(qtbot, window)
