"""Before/after on the picture itself (the split line dragged with the mouse), the reference side
by side, and faces numbered the same way in the Studio as on the command line."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from gafet_studio.jobs import base_pipeline, face_box
from tests.helpers.studio import load_pair, wait_result


def _mouse(view, kind, x: float, y: float, buttons=Qt.MouseButton.LeftButton) -> None:
    """A real mouse event at viewport (x, y), delivered to ``view``'s viewport."""
    button = Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove else Qt.MouseButton.NoButton
    pos = QPointF(x, y)
    global_pos = QPointF(view.viewport().mapToGlobal(pos.toPoint()))
    event = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


@pytest.fixture
def shown_pair(qtbot, window, media):
    load_pair(qtbot, window, media, source="happy.jpg", reference="surprise.jpg")
    return window


def test_the_split_line_is_dragged_on_the_picture(qtbot, shown_pair) -> None:
    window = shown_pair
    result = window.result_view
    view = result.view
    result.split_slider.setValue(50)
    QApplication.processEvents()
    rect = view.mapFromScene(view.image_rect()).boundingRect()
    y = rect.center().y()
    x = view.split_line_x()
    assert rect.left() < x < rect.right() and abs(x - rect.center().x()) <= 2
    scroll = (view.horizontalScrollBar().value(), view.verticalScrollBar().value())
    _mouse(view, QMouseEvent.Type.MouseButtonPress, x + 3, y)  # on the line (within its grab width)
    assert view.is_dragging_split()
    target = rect.left() + 0.2 * rect.width()
    for step in np.linspace(x, target, 6)[1:]:
        _mouse(view, QMouseEvent.Type.MouseMove, step, y)
    _mouse(view, QMouseEvent.Type.MouseButtonRelease, target, y, Qt.MouseButton.NoButton)
    assert not view.is_dragging_split()
    assert result.split() == pytest.approx(0.2, abs=0.02)
    assert result.split_slider.value() == round(100 * result.split())  # the slider follows
    assert (view.horizontalScrollBar().value(), view.verticalScrollBar().value()) == scroll  # no pan
    # a press away from the line pans as before: the split stays
    x_far, x_next = rect.left() + 0.8 * rect.width(), rect.left() + 0.7 * rect.width()
    _mouse(view, QMouseEvent.Type.MouseButtonPress, x_far, y)
    _mouse(view, QMouseEvent.Type.MouseMove, x_next, y)
    _mouse(view, QMouseEvent.Type.MouseButtonRelease, x_next, y, Qt.MouseButton.NoButton)
    assert result.split() == pytest.approx(0.2, abs=0.02)


def test_reference_side_by_side_from_the_view_menu(qtbot, shown_pair) -> None:
    window = shown_pair
    result = window.result_view
    assert not result.side_by_side()
    window.menus.side_by_side.trigger()
    QApplication.processEvents()
    assert result.side_by_side() and result.reference_view.isVisible()
    assert result.reference_view.has_image()
    size = window.session.reference.image.size()
    assert result.reference_view.image_rect().size().toSize() == size
    ref_x = result.reference_view.mapTo(window, QPoint(0, 0)).x()
    assert ref_x < result.view.mapTo(window, QPoint(0, 0)).x()  # reference left, result right
    assert window.settings.side_by_side()
    window.menus.side_by_side.trigger()
    assert not result.side_by_side() and not window.settings.side_by_side()


def test_faces_are_numbered_as_the_command_line_numbers_them(qtbot, window, media) -> None:
    """multi_face.jpg: the reference face picked in the Studio as face N is the face that
    ``gafet edit --reference-face N`` uses (both count from 0, left to right)."""
    from gafet_studio.cli import edit_cmd
    from gafet_studio.cli.main import build_parser

    load_pair(qtbot, window, media, source="happy.jpg", reference="multi_face.jpg")
    s = window.session
    n = len(s.reference.boxes)
    assert n == 5 and "face 0 of 5" in window.reference_panel.caption()
    view = window.reference_panel.view
    x0, y0, x1, y1 = s.reference.boxes[3]
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene((x0 + x1) / 2, (y0 + y1) / 2)
    )
    wait_result(qtbot, window, lambda: s.reference.face_index == 3)
    assert "face 3 of 5" in window.reference_panel.caption()
    assert window.controller.undo_stack.undoText() == "Select reference face 3"
    centres = [(b[0] + b[2]) / 2 for b in s.reference.boxes]
    assert centres == sorted(centres)  # 0 = the leftmost
    # the command line, parsed and prepared as `gafet edit` does
    ref = media.path("multi_face.jpg")
    args = build_parser("edit").parse_args(
        ["edit", "-s", str(media.path("happy.jpg")), "-r", str(ref), "--reference-face", "3", "-o", "x.png"]
    )
    cli = edit_cmd.prepare_reference(base_pipeline(window.controller.engine.crop_size), args)
    assert face_box(cli.faces[cli.face_index]) == s.reference.boxes[3]
    assert np.allclose(cli.vertices, s.reference.prepared.vertices)
    # and the source's face picker labels its thumbnails with the same numbers
    window.controller.open_source(ref)
    qtbot.waitUntil(lambda: s.source is not None and s.source.path == ref, timeout=180_000)
    picker = window.source_panel.picker
    assert [picker.item(i).text() for i in range(picker.count())] == [str(i) for i in range(5)]
    assert "face 0 of 5" in window.source_panel.caption()
    wait_result(qtbot, window)
