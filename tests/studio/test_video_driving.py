"""Driving videos in the Studio (issue 14, item 2): a real face video dropped on the reference
panel drives the source portrait. Scrubbing shows each frame's drive (the same frame ``gafet
drive`` renders), the sliders apply, an exported cut decodes with its frame count, a cancelled
export leaves no file, and a video is refused as the source."""

from __future__ import annotations

import os
from itertools import islice
from pathlib import Path

import numpy as np

from core.driving.drive import DriveOptions
from gafet_studio.video_driving import is_video_name
from gafet_studio.video_work import driver_for
from tests.helpers.studio import drop, wait_idle, wait_result

SCREENS = Path(os.environ.get("GAFET_SCREENS", "/work/notes/screens"))
CLIP_END_S = 1.5  # neutral_to_smile.mp4: 30 fps, the smile starts within its first 1.5 s


def _face_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_drive_scrub_and_export(qtbot, window, media, tmp_path) -> None:
    video_mode = window.video
    session = window.session
    notices = []
    session.notified.connect(notices.append)

    # a video dropped on the source panel is refused with a clear message
    drop(window.source_panel, [media.path("neutral_to_smile.mp4")])
    assert session.source is None
    assert "is a video" in notices[-1].text and notices[-1].level == "error"

    drop(window.source_panel, [media.path("happy.jpg")])
    qtbot.waitUntil(lambda: session.source is not None, timeout=120_000)
    video_mode.options = DriveOptions(end=CLIP_END_S)
    assert is_video_name(media.path("neutral_to_smile.mp4"))
    drop(window.reference_panel, [media.path("neutral_to_smile.mp4")])
    assert video_mode.timeline.isVisible()
    qtbot.waitUntil(lambda: video_mode.video is not None, timeout=120_000)
    video = video_mode.video
    assert video.frame_count == 45 and abs(video.fps - 30.0) < 0.01
    assert video_mode.timeline.frame_count() == 45
    wait_result(qtbot, window, lambda: session.reference.label.endswith("frame 1/45"))

    def scrub(pos: int) -> np.ndarray:
        video_mode.timeline.slider.setValue(pos)  # as a user's drag emits
        wait_result(qtbot, window, lambda: session.reference.label.endswith(f"frame {pos + 1}/45"))
        assert window.reference_panel.caption().startswith(f"neutral_to_smile.mp4 · frame {pos + 1}/45")
        return np.asarray(session.result.result.image)

    early = scrub(2)
    # the Studio's frame is gafet drive's frame: the same pipeline render of the same reference
    driver = driver_for(video, session.source.prepared, session.params)
    driven = next(islice(driver.frames(video.track), 2, None))
    assert driven.index == 2 and np.array_equal(early, driven.image)

    late = scrub(44)
    assert late.shape == early.shape and _face_diff(late, early) > 0.5  # the smile shows
    # the intensity slider applies to the driven frame
    window.sliders.intensity.slider.setValue(40)
    wait_result(qtbot, window, lambda: session.params.alpha == 0.4)
    softer = np.asarray(session.result.result.image)
    assert 0 < _face_diff(softer, early) < _face_diff(late, early)
    assert session.reference.label.endswith("frame 45/45")  # still the video's frame

    # export a cut (frames 30..35): it decodes with 6 frames at the clip's rate and the source's size
    import av

    out = tmp_path / "driven.mp4"
    exported = []
    video_mode.videoExported.connect(exported.append)
    assert video_mode.start_export(out, 30, 36)
    qtbot.waitUntil(lambda: bool(exported), timeout=120_000)
    wait_idle(qtbot, window)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        rate = float(stream.average_rate)
    w, h = session.source.size
    assert len(frames) == 6 and exported[0].frames == 6
    assert frames[0].shape == (h + h % 2, w + w % 2, 3) and abs(rate - 30.0) < 0.01

    # cancelled mid-way: no file, no temporary left behind, a notice says so
    cancelled = tmp_path / "cancelled.mp4"

    def cancel_at_two(p: object) -> None:
        if p.done == 2 and video_mode.export_dialog is not None:
            video_mode.export_dialog.canceled.emit()  # what the dialog's Cancel button emits

    video_mode.exportProgress.connect(cancel_at_two)
    assert video_mode.start_export(cancelled, 0, 45)
    qtbot.waitUntil(lambda: any("cancelled" in n.text for n in notices), timeout=120_000)
    wait_idle(qtbot, window)
    assert not cancelled.exists() and len(exported) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".ini") == ["driven.mp4"]
    assert not [n for n in notices[1:] if n.level == "error"]

    # play from frame 41: the reference and the result follow to the last frame, then it stops
    shown = []
    video_mode.frameShown.connect(shown.append)
    video_mode.show_frame(40)
    video_mode.timeline.play_button.click()
    assert video_mode.timeline.is_playing()
    qtbot.waitUntil(lambda: not video_mode.timeline.is_playing(), timeout=60_000)
    wait_result(qtbot, window, lambda: session.reference.label.endswith("frame 45/45"))
    assert shown[-1] == 44 and set(shown) >= {41, 44} and shown == sorted(shown)

    SCREENS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENS / "studio_driving_video.png"))

    # another reference photo ends video mode
    drop(window.reference_panel, [media.path("surprise.jpg")])
    wait_result(qtbot, window, lambda: session.reference.label == "surprise.jpg")
    assert video_mode.video is None and not video_mode.timeline.isVisible()


def test_open_reference_dialog_offers_videos(window, monkeypatch, tmp_path) -> None:
    """Reference ▸ Open…: the file dialog lists videos; a picked video goes to the driving-video mode,
    a picked photo to the controller as before."""
    from PySide6.QtWidgets import QFileDialog

    import gafet_studio.dialogs as dialogs_mod

    asked: list[str] = []
    picked = {"name": str(tmp_path / "clip.mp4")}

    def fake_dialog(parent, caption, folder, filters):
        asked.append(filters)
        return picked["name"], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_dialog))
    videos, photos = [], []
    monkeypatch.setattr(window.video, "open_video", lambda path, options=None: videos.append(str(path)))
    monkeypatch.setattr(window.controller, "open_reference", lambda path: photos.append(str(path)))
    window.dialogs.choose_reference()
    picked["name"] = str(tmp_path / "face.jpg")
    window.dialogs.choose_reference()
    assert "*.mp4" in asked[0] and "*.jpg" in asked[0].lower()
    assert videos == [str(tmp_path / "clip.mp4")] and photos == [str(tmp_path / "face.jpg")]
    assert dialogs_mod.is_video_name("x.MOV")
