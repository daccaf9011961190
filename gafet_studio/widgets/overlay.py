"""Widgets that float over another widget instead of taking room in its layout.

* :class:`Pin` keeps a child widget placed over its host as the host resizes: along the top
  edge (full width, its height for that width) or centred at its size hint.
* :class:`ProgressOverlay` is the card a panel shows while it works: what is happening and a
  percentage bar (an exact fraction when the work reports one, else an estimate from how long
  the same kind of work took before; see :class:`DurationEstimate`).
"""

from __future__ import annotations

import math
import time
from typing import Literal

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QVBoxLayout, QWidget

Placement = Literal["top", "centre"]
MARGIN = 8  # px between a pinned widget and its host's edges


class Pin(QObject):
    """Keeps ``widget`` (made a child of ``host``) over ``host``: 'top' spans the host's width
    at the top; 'centre' sits in the middle at its size hint. Call :meth:`place` after the
    widget's content changed."""

    def __init__(self, widget: QWidget, host: QWidget, where: Placement = "top") -> None:
        super().__init__(widget)
        self.widget, self.host, self.where = widget, host, where
        widget.setParent(host)
        host.installEventFilter(self)
        self.place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.host and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.place()
        return False

    def place(self) -> None:
        w, host = self.widget, self.host
        if self.where == "top":
            width = max(1, host.width() - 2 * MARGIN)
            hfw = w.heightForWidth(width)
            height = hfw if hfw > 0 else w.sizeHint().height()
            w.setGeometry(MARGIN, MARGIN, width, min(height, max(1, host.height() - 2 * MARGIN)))
        else:
            hint = w.sizeHint()
            width = min(hint.width(), max(1, host.width() - 2 * MARGIN))
            x, y = (host.width() - width) // 2, (host.height() - hint.height()) // 2
            w.setGeometry(x, y, width, hint.height())
        w.raise_()


class DurationEstimate:
    """How far along a task probably is, from how long it took the last times.

    ``fraction(elapsed_s)`` rises linearly to 0.9 at the expected duration, then creeps towards
    (never reaching) 0.99; :meth:`record` updates the expectation with a finished run's time.
    """

    def __init__(self, expected_s: float) -> None:
        self.expected_s = max(0.05, expected_s)

    def fraction(self, elapsed_s: float) -> float:
        e = max(0.0, elapsed_s) / self.expected_s
        if e <= 1.0:
            return 0.9 * e
        return 0.9 + 0.09 * (1.0 - math.exp(-(e - 1.0)))

    def record(self, seconds: float) -> None:
        self.expected_s = max(0.05, 0.5 * self.expected_s + 0.5 * seconds)


class ProgressOverlay(QFrame):
    """A card with a line of text and a percentage bar, centred over its host (hidden when idle)."""

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.setObjectName("progressOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "#progressOverlay { background: rgba(24, 24, 28, 245); border-radius: 8px; }"
            " QLabel { color: #f2f2f2; }"
            " QProgressBar { color: #f2f2f2; background: rgba(255, 255, 255, 40); border: none;"
            " border-radius: 4px; text-align: center; min-height: 16px; }"
            " QProgressBar::chunk { background: #2e86c1; border-radius: 4px; }"
        )
        self.label = QLabel("")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFormat("%p %")
        self.bar.setMinimumWidth(220)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self._pin = Pin(self, host, "centre")
        self.hide()

    def show_progress(self, text: str, fraction: float) -> None:
        """Show ``text`` and ``fraction`` (0..1) as a percentage."""
        self.label.setText(text)
        self.bar.setValue(round(100 * min(1.0, max(0.0, fraction))))
        if self.isHidden():
            self.show()
        self._pin.place()

    def percent(self) -> int | None:
        """The percentage on show, or None when hidden."""
        return None if self.isHidden() else self.bar.value()

    def text(self) -> str:
        return self.label.text()


def now() -> float:
    """Monotonic seconds (the clock the overlays' estimates use)."""
    return time.monotonic()
