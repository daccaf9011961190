"""A non-modal notification banner: shows the newest message with its reason; never blocks.

Errors and warnings stay until the user closes them (or a newer message replaces them); info
messages hide themselves after a few seconds. The last messages are kept in :attr:`history`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton

from gafet_studio.session import Notice, NoticeLevel

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
        self.hide()

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

    def dismiss(self) -> None:
        self._timer.stop()
        if not self.isHidden():
            self.hide()
            self.closed.emit()
