"""iter_frames / probe_video on the real test clips, and clear errors for bad files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import GafetError
from core.io import iter_frames, probe_video
from core.io.errors import EmptyFileError, PhotoNotFoundError, PhotoUnreadableError, VideoUnreadableError


def test_probe(media):
    info = probe_video(media.path("neutral_to_smile.mp4"))
    assert (info.width, info.height) == (640, 360)
    assert info.fps > 0 and info.frame_count > 10


def test_frames_are_rgb_and_step_skips(media):
    path = media.path("neutral_to_smile.mp4")
    every = list(iter_frames(path, max_frames=11))
    fifth = list(iter_frames(path, step=5, max_frames=3))
    assert len(every) == 11 and len(fifth) == 3
    assert every[0].shape == (360, 640, 3) and every[0].dtype == np.uint8
    for got, index in zip(fifth, (0, 5, 10), strict=True):
        np.testing.assert_array_equal(got, every[index])
    started = next(iter_frames(path, start=5))
    np.testing.assert_array_equal(started, every[5])


def test_colour_order_is_rgb(media):
    path = media.path("neutral_to_smile.mp4")
    cap = cv2.VideoCapture(str(path))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    np.testing.assert_array_equal(next(iter_frames(path)), bgr[..., ::-1])


def test_iterates_to_the_end(media):
    path = media.path("neutral_to_smile.mp4")
    count = sum(1 for _ in iter_frames(path, step=10))
    assert abs(count - -(-probe_video(path).frame_count // 10)) <= 1


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_text("not a video\n" * 100)
    with pytest.raises(VideoUnreadableError) as info:
        list(iter_frames(path))
    assert isinstance(info.value, GafetError) and "clip.mp4" in str(info.value)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda p: None, PhotoNotFoundError),
        (lambda p: p.mkdir(), PhotoUnreadableError),
        (lambda p: p.write_bytes(b""), EmptyFileError),
    ],
)
def test_bad_paths(tmp_path, make, error):
    path = tmp_path / "clip.mp4"
    make(path)
    with pytest.raises(error):
        next(iter_frames(path))
    with pytest.raises(error):
        probe_video(path)


def test_bad_arguments(media):
    with pytest.raises(ValueError):
        next(iter_frames(media.path("neutral_to_smile.mp4"), step=0))
