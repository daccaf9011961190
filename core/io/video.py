"""Read video frames as RGB uint8 (OpenCV), for training data and tests.

    for frame in iter_frames("clip.mp4", step=5):   # (H, W, 3) uint8 RGB
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from core.io.errors import EmptyFileError, PhotoNotFoundError, PhotoUnreadableError, VideoUnreadableError


class VideoInfo(NamedTuple):
    """width, height in px; fps (0.0 if the container does not say); frame_count as the container
    reports it (an estimate for some formats; 0 if unknown)."""

    width: int
    height: int
    fps: float
    frame_count: int


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Open the video, read its first frame to prove it decodes, and return its properties."""
    path = _check(path)
    cap = _open(path)
    try:
        ok, _ = cap.read()
        if not ok:
            raise VideoUnreadableError(path, "no frame could be decoded")
        return VideoInfo(
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            frame_count=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))),
        )
    finally:
        cap.release()


def iter_frames(
    path: str | os.PathLike[str], *, step: int = 1, start: int = 0, max_frames: int | None = None
) -> Iterator[np.ndarray]:
    """Yield frames start, start+step, ... as (H, W, 3) uint8 RGB arrays (each a new array).

    max_frames: stop after yielding this many (None: to the end).
    Raises VideoUnreadableError (or PhotoNotFoundError / EmptyFileError...) when the file cannot
    be opened or its first wanted frame cannot be decoded; the capture is always released.
    """
    if step < 1 or start < 0 or (max_frames is not None and max_frames < 0):
        raise ValueError(f"need step >= 1, start >= 0, max_frames >= 0; got {step}, {start}, {max_frames}")
    path = _check(path)
    cap = _open(path)
    try:
        index, yielded = 0, 0
        while max_frames is None or yielded < max_frames:
            wanted = index >= start and (index - start) % step == 0
            if wanted:
                ok, bgr = cap.read()
            else:
                ok, bgr = cap.grab(), None  # skip without converting the frame
            if not ok:
                if yielded == 0:
                    raise VideoUnreadableError(path, f"no frame could be decoded at or after frame {start}")
                return
            if wanted:
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yielded += 1
            index += 1
    finally:
        cap.release()


def _check(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.exists():
        raise PhotoNotFoundError(path)
    if path.is_dir():
        raise PhotoUnreadableError(path, "it is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise PhotoUnreadableError(path, "permission denied")
    if path.stat().st_size == 0:
        raise EmptyFileError(path)
    return path


def _open(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoUnreadableError(path, "the file is not a video OpenCV can open")
    return cap
