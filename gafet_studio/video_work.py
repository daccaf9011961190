"""Driving videos in the Studio, the part without Qt: analysis, one frame as a reference, export.

Loaded by :mod:`gafet_studio.video_driving` only when a video is dropped (it imports torch through
the pipeline and :mod:`core.driving`; the window must show before torch loads). See that module's
docstring for how the Studio and ``gafet drive`` give the same frames.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.driving.drive import (
    CancelFn,
    DriveOptions,
    DriveOptionsError,
    DriveSummary,
    DrivingTrack,
    ProgressFn,
    VideoDriver,
)
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedReference, PreparedSource
from core.face.align import align_face
from core.io.errors import VideoUnreadableError
from core.io.video import iter_frames

_KEYS = itertools.count(1)


@dataclass(frozen=True, eq=False)
class DrivingVideo:
    """An analysed driving video. driver: the ``VideoDriver`` of the analysis (no source; use
    :func:`driver_for`); track: its pass 1 (one entry per output frame); key: unique per load."""

    path: Path
    driver: VideoDriver
    track: DrivingTrack
    key: int = field(default_factory=lambda: next(_KEYS))

    @property
    def frame_count(self) -> int:
        return len(self.track.frames)

    @property
    def fps(self) -> float:
        return float(self.track.fps)


def analyse_video(pipeline: EditPipeline, path: str | Path, options: DriveOptions | None = None, *,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> DrivingVideo:
    """Pass 1 of ``gafet drive`` over ``path`` (its options' start/end). Raises NoFaceError,
    VideoUnreadableError, DriveOptionsError, DriveCancelled."""
    options = options if options is not None else DriveOptions()
    driver = VideoDriver(pipeline, None, path, options)  # type: ignore[arg-type]  (analyse reads no source)
    track = driver.analyse(progress=progress, cancel=cancel)
    return DrivingVideo(path=Path(path), driver=driver, track=track)


def driver_for(video: DrivingVideo, source: PreparedSource, params: EditParams | None = None) -> VideoDriver:
    """The video's driver for ``source`` at ``params`` (a shallow copy: the analysis is shared)."""
    driver = copy.copy(video.driver)
    driver.source = source
    driver.options = replace(video.driver.options, params=params if params is not None else EditParams())
    return driver


class FrameReader:
    """Decodes frames of one video by number, cheaply in order (an open reader), reopening for
    a jump back. One thread at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._frames: Iterator[np.ndarray] | None = None
        self._next = 0  # the number of the frame ``_frames`` yields next
        self._last: tuple[int, np.ndarray] | None = None

    def read(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB, frame ``index`` (0-based). Raises VideoUnreadableError past the end."""
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        if self._frames is None or index < self._next:
            self.close()
            self._frames = iter_frames(self.path, start=index)
            self._next = index
        while True:
            frame = next(self._frames, None)
            if frame is None:
                self.close()
                raise VideoUnreadableError(self.path, f"frame {index} could not be decoded")
            self._next += 1
            if self._next - 1 == index:
                self._last = (index, frame)
                return frame

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()  # type: ignore[attr-defined]  (a generator: releases the capture)
        self._frames, self._last = None, None


def frame_reference(pipeline: EditPipeline, video: DrivingVideo, source: PreparedSource, pos: int,
                    reader: FrameReader) -> tuple[PreparedReference, np.ndarray]:
    """Output frame ``pos`` as a reference for ``source``, and its driving frame (H, W, 3) uint8.

    As ``VideoDriver.frames`` builds it: the crop of the last frame up to ``pos`` that shows the
    face, its fit, ``target_aus`` and ``driving_vertices``; a weight below 1 (face lost) moves
    the AUs and mesh towards the source's (module docstring)."""
    track = video.track
    if not 0 <= pos < len(track.frames):
        raise IndexError(f"frame {pos} is outside the clip (0 to {len(track.frames) - 1})")
    seen = [i for i in range(pos, -1, -1) if track.frames[i].landmarks is not None]
    have = seen[0] if seen else next(i for i, f in enumerate(track.frames) if f.landmarks is not None)
    info, face_info = track.frames[pos], track.frames[have]
    face_frame = reader.read(face_info.video_index)
    frame = face_frame if have == pos else reader.read(info.video_index)
    aligned = align_face(face_frame, face_info.landmarks, pipeline.align_config)
    driver = driver_for(video, source)
    aus = driver.target_aus(track, pos)
    verts = driver.driving_vertices(track, pos).astype(np.float32)
    weight = float(track.weight[pos]) if have <= pos else 0.0
    if weight < 1.0:
        aus = source.fit.aus + weight * (aus - source.fit.aus)
        verts = (source.vertices + weight * (verts - source.vertices)).astype(np.float32)
    assert face_info.fit is not None  # a frame with landmarks has its fit
    ref = PreparedReference(aus=aus, params=face_info.fit.params, aligned=aligned, vertices=verts, faces=(),
                            face_index=0, photo=None, name=f"{video.path.name}#{info.video_index}",
                            key=("studio-drive", video.key, source.key, pos))
    return ref, frame


def bake_range(driver: VideoDriver, track: DrivingTrack, first: int, last: int) -> DrivingTrack:
    """Output frames [first, last) of ``track`` as a track of their own, their relative targets
    (AUs and driving mesh, :meth:`VideoDriver.target_aus` / ``driving_vertices`` of the whole
    clip) baked in, so a cut renders exactly as those frames of the whole clip."""
    span = range(first, last)
    return DrivingTrack(
        frames=track.frames[first:last], neutral_index=-1,
        aus=np.stack([driver.target_aus(track, p) for p in span]),
        vertices=np.stack([driver.driving_vertices(track, p) for p in span]).astype(np.float32),
        weight=np.array(track.weight[first:last]), state=track.state[first:last], fps=track.fps)


def export_clip(pipeline: EditPipeline, video: DrivingVideo, source: PreparedSource, params: EditParams,
                output: str | Path, first: int = 0, last: int | None = None, *, overwrite: bool = False,
                progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> DriveSummary:
    """Write output frames [first, last) of the analysed ``video`` driving ``source`` at
    ``params`` to the MP4 ``output`` (:func:`core.driving.output.drive_to_file`: H.264 with the
    clip's audio, atomic; DriveCancelled on cancel, leaving no file)."""
    from core.driving.output import drive_to_file

    track = video.track
    last = len(track.frames) if last is None else last
    if not 0 <= first < last <= len(track.frames):
        raise DriveOptionsError(f"The export range {first}..{last} is outside the clip's "
                                f"{len(track.frames)} frames.")
    whole = driver_for(video, source, params)
    rate = whole.info.fps
    a, b = track.frames[first].video_index, track.frames[last - 1].video_index
    options = replace(whole.options, start=a / rate, end=(b + 1) / rate)
    cut = VideoDriver(pipeline, source, video.path, options)
    if cut.indices != [f.video_index for f in track.frames[first:last]]:
        raise DriveOptionsError("The export range does not fall on the analysed frames; "
                                "export the whole clip.")
    return drive_to_file(cut, output, overwrite=overwrite, progress=progress, cancel=cancel,
                         track=bake_range(whole, track, first, last))
