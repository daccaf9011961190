"""A non-modal notification banner: shows the newest message with its reason; never blocks.

Errors and warnings stay until the user closes them, a newer message replaces them, or a later
action succeeds (:meth:`NotificationBanner.clear_problem`); info messages hide themselves after a
few seconds. The last messages are kept in :attr:`history`. The banner floats over a host widget
(:meth:`NotificationBanner.float_over`) rather than taking room in a layout, so showing it never
moves what is under it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from gafet_studio.session import Notice, NoticeLevel
from gafet_studio.widgets.overlay import Pin

_STYLE = {  # text, background, border colour and icon of each level
    NoticeLevel.ERROR: ("#5c1f1f", "#ffd9d6", "#c0392b", "✖"),
    NoticeLevel.WARNING: ("#5a4712", "#fff1c7", "#d4a017", "⚠"),
    NoticeLevel.INFO: ("#1d3f5e", "#dcecfb", "#2e86c1", "ℹ"),
}
INFO_TIMEOUT_MS = 8000


class NotificationBanner(QFrame):
    closed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("notificationBanner")
        self.history: list[Notice] = []
        self._notice: Notice | None = None
        self._icon = QLabel()
        self._text = QLabel()
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self._icon)
        layout.addWidget(self._text, 1)
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self._pin: Pin | None = None
        self.hide()

    def float_over(self, host: QWidget) -> None:
        """Float along the top of ``host`` (over its content, never pushing it down)."""
        self._pin = Pin(self, host, "top")

    @property
    def notice(self) -> Notice | None:
        """The message on show, or None when hidden."""
        return self._notice if not self.isHidden() else None

    def text(self) -> str:
        return self._text.text()

    def show_notice(self, notice: Notice) -> None:
        self.history = [*self.history[-49:], notice]
        self._notice = notice
        fg, bg, border, icon = _STYLE[notice.level]
        self.setStyleSheet(
            f"#notificationBanner {{ background: {bg}; border: 1px solid {border}; border-radius: 4px; }}"
            f" QLabel {{ color: {fg}; }}"
        )
        self._icon.setText(icon)
        self._text.setText(notice.text)
        self.setAccessibleDescription(f"{notice.level.value}: {notice.text}")
        self._timer.stop()
        if notice.level == NoticeLevel.INFO:
            self._timer.start(INFO_TIMEOUT_MS)
        self.show()
        if self._pin is not None:
            self._pin.place()

    def clear_problem(self) -> None:
        """A later action succeeded: hide an error or warning on show (info stays until it times out)."""
        notice = self.notice
        if notice is not None and notice.level in (NoticeLevel.ERROR, NoticeLevel.WARNING):
            self.dismiss()

    def dismiss(self) -> None:
        self._timer.stop()
        if not self.isHidden():
            self.hide()
            self.closed.emit()
