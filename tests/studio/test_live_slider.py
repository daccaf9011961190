"""A slider drag in the Studio takes the live path: pictures at the view's resolution while the
slider moves (from their own worker), the exact full-resolution picture once it rests, and the
exact picture's made content (the mouth) carried into later live pictures."""

from __future__ import annotations

from PySide6.QtGui import QImage

from gafet_studio.engine import LiveResult
from tests.helpers.studio import load_pair, wait_result


def test_a_drag_shows_live_pictures_then_the_exact_one(qtbot, window, media) -> None:
    s, engine = window.session, window.controller.engine
    engine.set_view_size(300, 200)
    load_pair(qtbot, window, media)  # happy.jpg x surprise.jpg, 512 x 512
    exact = s.result
    assert exact is not None and not exact.preview
    assert (exact.source_key, exact.reference_key) in engine._anchors  # its mouth is kept for the drag

    steps = window.controller.undo_stack.count()
    shown = []
    s.resultChanged.connect(shown.append)
    slider = window.sliders.intensity.slider
    slider.setSliderDown(True)
    for value in (90, 80, 70, 60):
        slider.setValue(value)
        qtbot.waitUntil(lambda v=value: any(r is not None and r.preview and round(r.params.alpha * 100) == v
                                            for r in shown), timeout=60_000)
    slider.setSliderDown(False)
    wait_result(qtbot, window, lambda: round(s.params.alpha * 100) == 60)

    live = [r for r in shown if r is not None and r.preview]
    assert {round(r.params.alpha * 100) for r in live} == {90, 80, 70, 60}
    for r in live:
        assert isinstance(r.result, LiveResult)
        # the photo fitted into the view (never enlarged): 512 x 512 -> 200 x 200
        assert (r.image.width(), r.image.height()) == (200, 200)
        assert r.image.format() == QImage.Format.Format_RGB32 and r.crop is None
        assert r.result.target_vertices.shape == (468, 3) and r.result.timings.total_ms > 0
    final = s.result
    assert not final.preview and final.params.alpha == 0.6
    assert (final.image.width(), final.image.height()) == s.source.size
    # the whole drag is one undo step
    assert window.controller.undo_stack.count() == steps + 1
    assert window.controller.undo_stack.undoText() == "Change intensity"
    # the view shows the exact picture at the photo's size
    assert window.result_view.view._after.sceneBoundingRect().width() == s.source.size[0]
