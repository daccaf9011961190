"""Run a whole drive into an MP4 (:class:`~core.driving.encoder.VideoEncoder`) or a folder of PNGs.

    summary = drive_to_file(driver, "out.mp4", progress=..., cancel=...)
    summary = drive_to_file(driver, "frames/", stills=True)

The MP4 has the source photo's size (an odd width or height gets one edge row / column repeated:
H.264 yuv420p needs even sizes) and the output frame rate, with the driving video's audio over
the driven span. A folder of stills holds ``frame_000000.png``, ... at the photo's exact size,
swapped in whole at the end (:func:`core.io.atomic.atomic_dir`). Either way, a cancel or an
error leaves nothing at the output path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from core.driving.drive import (
    CancelFn,
    DriveSummary,
    DrivingTrack,
    ProgressFn,
    StageTimes,
    VideoDriver,
    lost_ranges,
)
from core.driving.encoder import AudioSource, EncoderSettings, VideoEncoder
from core.io.atomic import atomic_dir
from core.io.errors import OutputExistsError, SaveError


def even_size(width: int, height: int) -> tuple[int, int]:
    """The frame size the MP4 gets: each side rounded up to even."""
    return width + width % 2, height + height % 2


def pad_even(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> the same with the last row / column repeated where H / W is odd."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _mean_times(times: list[StageTimes]) -> StageTimes:
    if not times:
        return StageTimes()
    keys = StageTimes.__dataclass_fields__
    return StageTimes(**{k: float(np.mean([getattr(t, k) for t in times])) for k in keys})


def drive_to_file(driver: VideoDriver, output: str | os.PathLike[str], *, stills: bool = False,
                  overwrite: bool = False, settings: EncoderSettings | None = None,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                  track: DrivingTrack | None = None) -> DriveSummary:
    """Analyse and render every output frame of ``driver`` into ``output`` (module docstring).

    track: the clip's analysis when already done (``driver.analyse()``); None: done here.
    Raises OutputExistsError when ``output`` exists and ``overwrite`` is False (before any work),
    DriveCancelled when ``cancel()`` turns True, NoFaceError when the video never shows the face.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise OutputExistsError(output)
    if not output.parent.is_dir():
        raise SaveError(output, f"the folder '{output.parent}' does not exist")
    t0 = time.perf_counter()
    if track is None:
        track = driver.analyse(progress=progress, cancel=cancel)
    photo = driver.source.photo
    w, h = photo.size
    times: list[StageTimes] = []
    if stills:
        if output.exists() and not output.is_dir():
            raise SaveError(output, "it is a file; --still-frames needs a folder")
        with atomic_dir(output) as folder:
            for frame in driver.frames(track, progress=progress, cancel=cancel):
                t = time.perf_counter()
                ok, data = cv2.imencode(".png", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
                if not ok:
                    raise SaveError(output, f"frame {frame.index} could not be encoded as PNG")
                (folder / f"frame_{frame.index:06d}.png").write_bytes(data.tobytes())
                times.append(_with_encode(frame.times, t))
    else:
        fps = driver.info.fps
        first, last = track.frames[0].video_index, track.frames[-1].video_index
        audio = AudioSource(driver.path, first / fps, (last + 1) / fps)
        with VideoEncoder(output, fps=track.fps, size=even_size(w, h), audio=audio,
                          settings=settings or EncoderSettings(), overwrite=overwrite) as encoder:
            for frame in driver.frames(track, progress=progress, cancel=cancel):
                t = time.perf_counter()
                encoder.write(pad_even(frame.image))
                times.append(_with_encode(frame.times, t))
    return DriveSummary(output=output, frames=len(times), lost_frames=track.lost_frames,
                        lost_ranges=lost_ranges(track.state),
                        neutral_video_index=(track.frames[track.neutral_index].video_index
                                             if track.neutral_index >= 0 else -1),
                        fps=track.fps, seconds=time.perf_counter() - t0, mean_times=_mean_times(times))


def _with_encode(times: StageTimes, t0: float) -> StageTimes:
    values = times.as_dict()
    values["encode_ms"] = (time.perf_counter() - t0) * 1e3
    return StageTimes(**values)
