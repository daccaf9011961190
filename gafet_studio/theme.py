"""The Studio's colour theme: System (follows the desktop's light/dark setting), Light or Dark.

:func:`apply_theme` sets the application's style (Fusion, which honours palettes on every
platform) and a light or dark :class:`QPalette`. With ``Theme.SYSTEM`` the desktop's colour
scheme (Qt 6.5+ ``QStyleHints.colorScheme``) decides, and :class:`ThemeFollower` re-applies it
when the desktop switches. The choice is stored in :class:`~gafet_studio.settings.Settings`.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


class Theme(StrEnum):
    SYSTEM = "system"  # follow the desktop
    LIGHT = "light"
    DARK = "dark"


THEME_LABELS = {Theme.SYSTEM: "&System", Theme.LIGHT: "&Light", Theme.DARK: "&Dark"}

# (role, colour) of each palette; the disabled group gets DISABLED_TEXT for the text roles.
_DARK = {
    QPalette.ColorRole.Window: "#2d2d30",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1f1f22",
    QPalette.ColorRole.AlternateBase: "#2a2a2e",
    QPalette.ColorRole.ToolTipBase: "#3c3c40",
    QPalette.ColorRole.ToolTipText: "#f0f0f0",
    QPalette.ColorRole.PlaceholderText: "#8c8c8c",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#3a3a3e",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Light: "#505055",
    QPalette.ColorRole.Midlight: "#434347",
    QPalette.ColorRole.Mid: "#9a9aa0",  # captions use palette(mid): readable on Window
    QPalette.ColorRole.Dark: "#1b1b1d",
    QPalette.ColorRole.Shadow: "#0e0e0f",
    QPalette.ColorRole.Highlight: "#2f7dc4",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6cb2f0",
    QPalette.ColorRole.LinkVisited: "#b89cf0",
}
_LIGHT = {
    QPalette.ColorRole.Window: "#efefef",
    QPalette.ColorRole.WindowText: "#1e1e1e",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f5f5f5",
    QPalette.ColorRole.ToolTipBase: "#ffffdc",
    QPalette.ColorRole.ToolTipText: "#1e1e1e",
    QPalette.ColorRole.PlaceholderText: "#7a7a7a",
    QPalette.ColorRole.Text: "#1e1e1e",
    QPalette.ColorRole.Button: "#e6e6e6",
    QPalette.ColorRole.ButtonText: "#1e1e1e",
    QPalette.ColorRole.BrightText: "#c0392b",
    QPalette.ColorRole.Light: "#ffffff",
    QPalette.ColorRole.Midlight: "#dadada",
    QPalette.ColorRole.Mid: "#6e6e6e",
    QPalette.ColorRole.Dark: "#a0a0a0",
    QPalette.ColorRole.Shadow: "#505050",
    QPalette.ColorRole.Highlight: "#2e86c1",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#1f6fb2",
    QPalette.ColorRole.LinkVisited: "#7b4bb3",
}
_DISABLED_TEXT = {True: "#7a7a7e", False: "#a0a0a0"}  # dark?, colour


def palette(dark: bool) -> QPalette:
    """The Studio's dark or light palette (all colour groups)."""
    pal = QPalette()
    for role, colour in (_DARK if dark else _LIGHT).items():
        pal.setColor(role, QColor(colour))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.HighlightedText,
    ):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(_DISABLED_TEXT[dark]))
    return pal


def system_prefers_dark() -> bool:
    """Whether the desktop asks for a dark scheme (False when unknown, or before Qt 6.5)."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return scheme is not None and scheme() == Qt.ColorScheme.Dark


def parse_theme(text: object) -> Theme:
    """A stored theme name as a :class:`Theme` (System for anything unknown)."""
    try:
        return Theme(str(text))
    except ValueError:
        return Theme.SYSTEM


def is_dark(theme: Theme) -> bool:
    """Whether ``theme`` shows dark right now (System: what the desktop asks for)."""
    return theme == Theme.DARK or (theme == Theme.SYSTEM and system_prefers_dark())


def apply_theme(theme: Theme, app: QApplication | None = None) -> bool:
    """Give ``app`` (default: the running one) the Fusion style and ``theme``'s palette; returns
    whether the result is dark."""
    app = app or QApplication.instance()
    dark = is_dark(theme)
    if app is None:
        return dark
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(palette(dark))
    return dark


class ThemeFollower(QObject):
    """Holds the chosen theme, applies it, and re-applies System when the desktop switches."""

    changed = Signal(bool)  # dark?

    def __init__(self, theme: Theme = Theme.SYSTEM, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.dark = False
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._system_changed)

    def set_theme(self, theme: Theme) -> None:
        self.theme = Theme(theme)
        self.dark = apply_theme(self.theme)
        self.changed.emit(self.dark)

    def _system_changed(self, *_: object) -> None:
        if self.theme == Theme.SYSTEM:
            self.set_theme(Theme.SYSTEM)
