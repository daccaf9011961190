"""Short test clips made from real video frames: a tone track, blank (faceless) frames, a cut."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.driving.encoder import AudioSource, VideoEncoder

TONE_HZ = 440.0


def tone_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A mono 16-bit WAV of a 440 Hz tone."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def make_clip(path: Path, frames: list[np.ndarray], fps: Fraction, audio: Path | None = None) -> Path:
    """Encode ``frames`` ((H, W, 3) uint8, even sizes) with the project's encoder, with ``audio``."""
    h, w = frames[0].shape[:2]
    with VideoEncoder(path, fps=fps, size=(w, h), audio=AudioSource(audio) if audio else None) as enc:
        for f in frames:
            enc.write(f)
    return path


def audio_seconds(path: Path) -> float:
    """Seconds of decoded audio in ``path`` (0 when it has none)."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return 0.0
        stream = c.streams.audio[0]
        return sum(f.samples for f in c.decode(stream)) / stream.codec_context.sample_rate


def video_stats(path: Path) -> tuple[int, Fraction, tuple[int, int]]:
    """(decoded frame count, stated frame rate, (width, height)) of the first video track."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        n = sum(1 for _ in c.decode(stream))
        return n, Fraction(stream.average_rate), (stream.codec_context.width, stream.codec_context.height)
