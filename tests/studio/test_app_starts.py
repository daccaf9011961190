from __future__ import annotations

from gafet_studio.main_window import MainWindow


def test_main_window_opens(qtbot) -> None:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.windowTitle() == "GaFET Studio"
    assert not w.grab().isNull()
