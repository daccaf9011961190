"""A drive on a few seconds of real video: one output frame per driving frame at the source's
size; frames without the face are held, then faded back to the source."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from core.driving.drive import DriveOptions, FrameState, VideoDriver, plan_frames
from core.io.video import iter_frames
from tests.core.driving.clips import make_clip, tone_wav

REAL_A, BLANK, REAL_B = 10, 8, 6


@pytest.fixture(scope="module")
def clip(media, tmp_path_factory) -> Path:
    """neutral_to_smile frames, then 8 grey frames (no face), then more of the video, 30 fps, a tone."""
    folder = tmp_path_factory.mktemp("drive")
    frames = list(iter_frames(media.path("neutral_to_smile.mp4"), start=30, step=2,
                              max_frames=REAL_A + REAL_B))
    grey = [np.full_like(frames[0], 110)] * BLANK
    wav = tone_wav(folder / "tone.wav", (REAL_A + BLANK + REAL_B) / 30)
    return make_clip(folder / "clip.mp4", frames[:REAL_A] + grey + frames[REAL_A:], Fraction(30), audio=wav)


@pytest.fixture(scope="module")
def pipeline(app_assets: None):
    from core.editing.pipeline import EditPipeline
    from core.editing.warp.editor import WarpEditor

    return EditPipeline(editor=WarpEditor(), crop_size=128)


@pytest.fixture(scope="module")
def driven(media, clip, pipeline):
    from core.io import load_photo

    source = pipeline.prepare_source(load_photo(media.path("happy.jpg")))
    driver = VideoDriver(pipeline, source, clip, DriveOptions(hold_s=0.1, fade_s=0.1))
    track = driver.analyse()
    return source, track, list(driver.frames(track)), driver


def test_one_frame_per_driving_frame_at_the_source_size(driven) -> None:
    source, track, frames, _ = driven
    assert len(frames) == REAL_A + BLANK + REAL_B == len(track.frames)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(f.image.shape == np.asarray(source.photo.rgb).shape for f in frames)
    assert track.fps == 30 and track.neutral_index >= 0
    times = frames[3].times
    assert times.track_ms > 0 and times.fit_ms > 0 and times.flow_ms > 0 and times.editor_ms > 0


def test_frames_without_a_face_are_held_then_faded_back(driven) -> None:
    source, track, frames, _ = driven
    states = [f.state for f in frames]
    weights = [f.weight for f in frames]
    assert all(s in (FrameState.DETECTED, FrameState.TRACKED) for s in states[:REAL_A])
    lost = states[REAL_A:REAL_A + BLANK]
    assert lost[:3] == [FrameState.HELD] * 3  # 0.1 s at 30 fps
    assert lost[3:5] == [FrameState.FADING] * 2 and FrameState.SOURCE in lost[5:]
    last = frames[REAL_A - 1].image
    assert all(np.array_equal(frames[REAL_A + i].image, last) for i in range(3))  # held: the last expression
    rgb = np.asarray(source.photo.rgb).astype(np.int16)
    change = [np.abs(f.image.astype(np.int16) - rgb).mean() for f in frames[REAL_A + 2:REAL_A + BLANK]]
    assert change[0] > 0.1 and all(b <= a for a, b in zip(change, change[1:], strict=False))  # fading
    assert change[-1] == 0.0  # back to the source, bit for bit
    assert weights[-1] == 1.0 and states[-1] in (FrameState.DETECTED, FrameState.TRACKED)
    assert track.lost_frames == BLANK


def test_plan_frames_resamples_and_checks_the_span() -> None:
    from core.driving.drive import DriveOptionsError

    idx, rate = plan_frames(30.0, 90, 1.0, 2.0, 15.0)
    assert rate == 15 and idx == list(range(30, 60, 2))
    idx, rate = plan_frames(24000 / 1001, 100, 0.0, None, None)
    assert rate == Fraction(24000, 1001) and idx == list(range(100))
    with pytest.raises(DriveOptionsError):
        plan_frames(30.0, 90, 4.0, None, None)


def test_cancel_mid_encode_leaves_no_file(driven, tmp_path: Path) -> None:
    from core.driving.drive import DriveCancelled
    from core.driving.output import drive_to_file

    _, track, _, driver = driven
    polls = []
    out = tmp_path / "out.mp4"
    with pytest.raises(DriveCancelled):
        drive_to_file(driver, out, track=track, cancel=lambda: polls.append(1) or len(polls) > 5)
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file
