"""Bad input: a non-image, a corrupt image, a face-less photo, a folder, many files at once.

Each shows a non-modal message with the reason, nothing crashes, and the previous state (the
source, the reference and the shown result) stays exactly as it was.
"""

from __future__ import annotations

import shutil

import pytest

from gafet_studio.session import Task
from tests.helpers.studio import drop, wait_idle, wait_result


def _load_pair(qtbot, window, media) -> None:
    drop(window.source_panel, [media.path("happy.jpg")])
    drop(window.reference_panel, [media.path("surprise.jpg")])
    wait_result(qtbot, window)
    window.banner.dismiss()


def _snapshot(window):
    s = window.session
    return s.source, s.reference, s.result, s.params


def test_folder_drop_shows_message_and_loads_nothing(qtbot, window, tmp_path) -> None:
    drop(window.source_panel, [tmp_path])
    notice = window.banner.notice
    assert notice is not None and notice.level == "error"
    assert "folder" in notice.text and tmp_path.name in notice.text
    # The window may still be warming up (face networks, models folder): only loading must not run.
    assert window.session.source is None and not window.session.busy(Task.SOURCE)
    drop(window, [tmp_path, tmp_path])  # onto the window: the same
    assert "folders" in window.banner.text()


@pytest.fixture
def bad_files(tmp_path, media):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo\n" * 20)
    corrupt = tmp_path / "corrupt.jpg"
    data = media.path("anger.jpg").read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])  # truncated JPEG
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    return {"non-image": text, "corrupt": corrupt, "empty": empty, "no face": media.path("no_face.jpg")}


@pytest.mark.parametrize("target", ["source", "reference"])
def test_bad_photos_keep_the_previous_state(qtbot, window, media, bad_files, target) -> None:
    _load_pair(qtbot, window, media)
    before = _snapshot(window)
    panel = window.source_panel if target == "source" else window.reference_panel
    expect = {"non-image": "not an image", "corrupt": "damaged", "empty": "empty", "no face": "face"}
    for kind, path in bad_files.items():
        with qtbot.waitSignal(window.session.notified, timeout=120_000) as blocker:
            drop(panel, [path])
        wait_idle(qtbot, window)
        notice = blocker.args[0]
        assert notice.level == "error", (kind, notice)
        assert expect[kind] in notice.text.lower(), (kind, notice.text)
        assert window.banner.notice == notice and window.banner.isVisible()
        assert _snapshot(window) == before, f"{kind} changed the state"
        assert window.result_view.view.has_after()


def test_many_files_on_a_panel_use_the_first_image(qtbot, window, media, tmp_path) -> None:
    notes = tmp_path / "readme.txt"
    notes.write_text("hello")
    drop(window.source_panel, [notes, media.path("happy.jpg"), media.path("anger.jpg"), tmp_path])
    qtbot.waitUntil(lambda: window.session.source is not None, timeout=180_000)
    wait_idle(qtbot, window)
    assert window.session.source.path == media.path("happy.jpg")
    texts = [n.text for n in window.banner.history]
    assert any("ignored" in t and "happy.jpg" in t for t in texts), texts


def test_window_drop_first_is_source_second_is_reference(qtbot, window, media) -> None:
    copy_dir = media.path("happy.jpg").parent
    drop(window, [copy_dir / "happy.jpg", copy_dir / "surprise.jpg", copy_dir / "anger.jpg"])
    wait_result(qtbot, window)
    assert window.session.source.path.name == "happy.jpg"
    assert window.session.reference.path.name == "surprise.jpg"
    assert any("1 more file ignored" in n.text for n in window.banner.history)


def test_huge_photo_works(qtbot, window, media, tmp_path) -> None:
    """A ~24 MP photo loads and edits (slower), and the result keeps its full resolution."""
    import cv2
    import numpy as np

    from core.io.photo import load_photo
    from core.io.save import save_image

    rgb = load_photo(media.path("single_face.jpg")).rgb
    h, w = rgb.shape[:2]
    s = (24e6 / (w * h)) ** 0.5
    big = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR)
    path = save_image(tmp_path / "big.jpg", np.ascontiguousarray(big), quality=85)
    shutil.copy(media.path("surprise.jpg"), tmp_path / "ref.jpg")
    drop(window, [path, tmp_path / "ref.jpg"])
    qtbot.waitUntil(lambda: window.session.result_is_current(), timeout=240_000)
    wait_idle(qtbot, window)
    result = window.session.result
    assert result.image is not None and (result.image.width(), result.image.height()) == big.shape[1::-1]
    # a slider move first shows a quick preview rendered on a downscaled proxy, then the full photo
    shown = []
    window.session.resultChanged.connect(shown.append)
    window.sliders.intensity.slider.setValue(60)
    qtbot.waitUntil(lambda: window.session.result_is_current(), timeout=240_000)
    wait_idle(qtbot, window)
    previews = [r for r in shown if r is not None and r.preview]
    assert previews and previews[0].image.width() * previews[0].image.height() < 3.1e6
    final = window.session.result
    assert not final.preview and final.image.width() == big.shape[1] and final.params.alpha == 0.6
    assert window.result_view.view._after.sceneBoundingRect().width() == big.shape[1]
