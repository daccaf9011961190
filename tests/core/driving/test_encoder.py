"""The MP4 encoder: H.264 yuv420p, stated frame rate, audio copied or transcoded, atomic."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from core.driving.encoder import AudioSource, VideoEncoder, has_audio
from core.io.video import iter_frames
from tests.core.driving.clips import audio_seconds, make_clip, tone_wav, video_stats


@pytest.fixture(scope="module")
def frames(media) -> list[np.ndarray]:
    return list(iter_frames(media.path("neutral_to_smile.mp4"), max_frames=24))


def test_frames_decode_back_with_the_stated_rate_and_a_tone_track(tmp_path: Path, frames) -> None:
    import av

    wav = tone_wav(tmp_path / "tone.wav", 1.0)
    clip = make_clip(tmp_path / "clip.mp4", frames, Fraction(24000, 1001), audio=wav)
    n, rate, size = video_stats(clip)
    assert (n, rate, size) == (24, Fraction(24000, 1001), (640, 360))
    with av.open(str(clip)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.audio[0].codec_context.name == "aac"  # the WAV's PCM, transcoded
    assert audio_seconds(clip) == pytest.approx(1.0, abs=0.13)  # AAC adds <= 2 frames of padding
    # copying that AAC track, cut to [0.25, 0.75) s
    out = tmp_path / "cut.mp4"
    with VideoEncoder(out, fps=Fraction(24), size=(640, 360), audio=AudioSource(clip, 0.25, 0.75)) as enc:
        for f in frames[:12]:
            enc.write(f)
    assert has_audio(out) and audio_seconds(out) == pytest.approx(0.5, abs=0.06)
    assert not has_audio(tmp_path / "tone.wav.missing")
    silent = make_clip(tmp_path / "silent.mp4", frames[:6], Fraction(30))
    again = make_clip(tmp_path / "again.mp4", frames[:6], Fraction(30), audio=silent)  # nothing to copy
    assert not has_audio(silent) and not has_audio(again) and video_stats(again)[0] == 6


def test_an_interrupted_encode_leaves_nothing(tmp_path: Path, frames) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt), VideoEncoder(out, fps=Fraction(30), size=(640, 360)) as enc:
        for i, f in enumerate(frames):
            enc.write(f)
            if i == 5:
                raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_bad_sizes_and_frames_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        VideoEncoder(tmp_path / "x.mp4", fps=30, size=(641, 360))
    with pytest.raises(ValueError, match="uint8"), \
            VideoEncoder(tmp_path / "x.mp4", fps=30, size=(64, 48)) as enc:
        enc.write(np.zeros((48, 64, 3), np.float32))
    assert not (tmp_path / "x.mp4").exists()


def test_odd_photo_sizes_are_padded_to_even_by_repeating_the_edge() -> None:
    from core.driving.output import even_size, pad_even

    img = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    out = pad_even(img)
    assert out.shape == (6, 8, 3) and even_size(7, 5) == (8, 6)
    assert np.array_equal(out[:5, :7], img) and np.array_equal(out[5, :7], img[4])
    assert pad_even(out) is out
