"""The window's layout holds still: the side columns keep their widths while photos and presets
load, and the banner floats over the result instead of pushing the panels down. An error in the
banner clears once a later action succeeds."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication

from gafet_studio.session import NoticeLevel
from gafet_studio.widgets.panels import preset_files
from tests.helpers.studio import drop, wait_idle, wait_result


def _geometry(widget, window) -> tuple[int, int, int, int]:
    """``widget``'s rectangle in window coordinates."""
    top_left = widget.mapTo(window, QPoint(0, 0))
    return top_left.x(), top_left.y(), widget.width(), widget.height()


def test_side_columns_keep_their_width_while_photos_and_presets_load(qtbot, window, media) -> None:
    window.resize(1280, 800)
    QApplication.processEvents()
    columns = window.workspace.columns
    before = columns.sizes()
    drop(window.source_panel, [media.path("multi_face.jpg")])  # long caption, face picker shown
    drop(window.reference_panel, [media.path("surprise.jpg")])
    wait_result(qtbot, window)
    assert window.source_panel.picker.isVisible()
    assert columns.sizes()[0] == before[0] and columns.sizes()[2] == before[2], (before, columns.sizes())
    # a preset with the longest name of all, and a long caption
    longest = max(preset_files(), key=lambda p: len(p.stem))
    window.reference_panel.presetChosen.emit(longest)
    wait_result(qtbot, window, lambda: window.session.reference.kind == "preset")
    window.source_panel.set_caption("a-very-long-file-name-" * 8 + ".jpg · 6000×4000 · face 3 of 5")
    QApplication.processEvents()
    assert columns.sizes()[0] == before[0] and columns.sizes()[2] == before[2], (before, columns.sizes())


def test_banner_floats_over_the_result_and_a_later_success_clears_an_error(
    qtbot, window, media, tmp_path
) -> None:
    panels = (window.source_panel, window.reference_panel, window.result_view.view, window.sliders)
    before = [_geometry(w, window) for w in panels]
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    with qtbot.waitSignal(window.session.notified, timeout=120_000) as blocker:
        drop(window.source_panel, [bad])
    wait_idle(qtbot, window)
    assert blocker.args[0].level == NoticeLevel.ERROR
    QApplication.processEvents()
    banner = window.banner
    assert banner.isVisible() and banner.notice == blocker.args[0]
    assert [_geometry(w, window) for w in panels] == before  # nothing moved
    # it lies over the result view, clear of the source and reference panels (their face boxes)
    bx, by, bw, bh = _geometry(banner, window)
    rx, ry, rw, rh = _geometry(window.result_view, window)
    assert rx <= bx and bx + bw <= rx + rw and ry <= by and by + bh <= ry + rh and bh > 10
    # a later action that succeeds clears the error
    drop(window.source_panel, [media.path("happy.jpg")])
    qtbot.waitUntil(lambda: window.session.source is not None, timeout=180_000)
    wait_idle(qtbot, window)
    assert banner.notice is None and not banner.isVisible()


def test_an_error_stays_until_a_result_of_new_settings_shows(qtbot, window, media) -> None:
    drop(window.source_panel, [media.path("happy.jpg")])
    drop(window.reference_panel, [media.path("surprise.jpg")])
    wait_result(qtbot, window)
    window.session.notify(NoticeLevel.ERROR, "The export failed: the disk is full.")
    assert window.banner.notice is not None
    window.sliders.intensity.slider.setValue(70)
    wait_result(qtbot, window, lambda: window.session.params.alpha == 0.7)
    assert window.banner.notice is None
