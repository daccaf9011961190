from __future__ import annotations

from gafet_studio.main_window import MainWindow


def test_main_window_opens(qtbot, settings) -> None:
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.windowTitle() == "GaFET Studio"
    assert not w.grab().isNull()
    assert w.preview3d.backend_name == "software"  # offscreen: no OpenGL
