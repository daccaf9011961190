"""View ▸ Theme: System / Light / Dark, applied to the whole application and remembered."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from gafet_studio.main_window import MainWindow
from gafet_studio.theme import Theme, system_prefers_dark


def _window_lightness() -> int:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness()


def test_theme_menu_switches_and_is_remembered(qtbot, settings) -> None:
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    assert settings.theme() == Theme.SYSTEM and w.menus.themes[Theme.SYSTEM].isChecked()
    w.menus.themes[Theme.DARK].trigger()
    assert w.menus.themes[Theme.DARK].isChecked() and not w.menus.themes[Theme.SYSTEM].isChecked()
    assert settings.theme() == Theme.DARK and w.theme.dark
    dark = _window_lightness()
    text = QApplication.palette().color(QPalette.ColorRole.WindowText).lightness()
    assert dark < 80 and text > 180  # light text on a dark window
    QApplication.processEvents()  # widgets get the new palette through a posted event
    assert w.palette().color(QPalette.ColorRole.Window).lightness() == dark  # the window follows
    w.menus.themes[Theme.LIGHT].trigger()
    assert settings.theme() == Theme.LIGHT and _window_lightness() > 200 and not w.theme.dark
    # System follows the desktop (offscreen reports no preference: light)
    w.menus.themes[Theme.SYSTEM].trigger()
    assert w.theme.dark == system_prefers_dark()
    # a new window starts with the stored choice
    w.menus.themes[Theme.DARK].trigger()
    w.close()
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    assert again.menus.themes[Theme.DARK].isChecked() and _window_lightness() < 80
    again.set_theme(Theme.LIGHT)  # leave the application light for the tests that follow
