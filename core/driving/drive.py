"""Video driving: a source portrait takes on a driving video's expressions, its head pose kept.

    driver = VideoDriver(pipeline, source, "clip.mp4", DriveOptions(smooth=1.0))
    track = driver.analyse(progress=..., cancel=...)     # pass 1: track + fit every frame
    for frame in driver.frames(track):                   # pass 2: one DrivenFrame per output frame
        encoder.write(frame.image)
    summary = drive_video(pipeline, source, "clip.mp4", "out.mp4", options)   # both, to an MP4

The source is prepared once (``EditPipeline.prepare_source``, by the caller). Then:

1. **analyse** (per driving frame): track the driving face (:mod:`core.driving.tracking`:
   the mesh on the last frame's region, detection every K frames) and fit its expression
   (``GeometryLink.fit`` on the mesh in the aligned crop's px; no crop is resampled here);
2. **expression**: the driving neutral (:mod:`core.driving.relative`, estimated over the whole
   clip, or ``neutral_frame``), One-Euro smoothing of the AUs and of the driving mesh
   (:mod:`core.driving.smoothing`), and the frames where the face was lost: the last expression
   held for ``hold_s`` seconds, then faded back to the source's own over ``fade_s`` (the
   intensity goes to 0), and faded in again over ``fade_s / 2`` when the face returns;
3. **render** (per output frame): the driving face aligned (its crop feeds the mouth interior),
   a :class:`~core.editing.pipeline.PreparedReference` for this frame, and
   ``EditPipeline.render``: interpolate -> flow -> editor -> paste into the source photo.

Everything the per-frame loop does is timed (:class:`StageTimes`); a ``cancel`` callable is
polled between frames and raises :class:`DriveCancelled`.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.driving.relative import neutral_score, pick_neutral, relative_aus, relative_gap, with_mouth_gap
from core.driving.smoothing import OneEuroFilter, one_euro_settings
from core.driving.tracking import FaceTracker, TrackerConfig, TrackStatus
from core.editing.geometry_link import ExpressionFit
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedReference, PreparedSource
from core.errors import GafetError
from core.face.align import AlignedFace, align_face, alignment_matrix, map_points
from core.face.errors import FaceIndexError, NoFaceError
from core.geometry.au.calibration import mouth_gap
from core.io.video import iter_frames, probe_video


class DriveCancelled(GafetError):
    """The user cancelled a drive (Ctrl+C, SIGTERM, the Studio's cancel)."""

    exit_code = 130


class DriveOptionsError(GafetError):
    """Driving settings that do not fit the video (a start past its end, a neutral frame outside)."""


@dataclass(frozen=True)
class DriveOptions:
    """params: intensity / regions / AU overrides, as for a photo edit (``alpha`` scales the
    driving expression). relative: expression relative to the driving neutral (else the driving
    AUs as they read). neutral_frame: the driving video's frame number (0-based) to take as its
    neutral, None: estimated. smooth: One-Euro strength, 0 (off) .. 3, 1 default. start / end:
    seconds of the driving video (end None: to its end). fps: output frame rate (None: the
    driving video's; lower drops frames, higher repeats them). driving_face: which face of the
    first frame with a face to follow, 0 = leftmost. hold_s / fade_s: lost-face handling (module
    docstring)."""

    params: EditParams = EditParams()
    relative: bool = True
    neutral_frame: int | None = None
    smooth: float = 1.0
    start: float = 0.0
    end: float | None = None
    fps: float | None = None
    driving_face: int = 0
    tracker: TrackerConfig = TrackerConfig()
    hold_s: float = 0.25
    fade_s: float = 0.5

    def __post_init__(self) -> None:
        one_euro_settings(self.smooth)  # raises ValueError on a bad strength
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise DriveOptionsError(f"--start/--end must satisfy 0 <= start < end, got {self.start}, "
                                    f"{self.end}.")
        if self.fps is not None and not 0 < self.fps <= 240:
            raise DriveOptionsError(f"--fps must be in (0, 240], got {self.fps}.")
        if self.neutral_frame is not None and self.neutral_frame < 0:
            raise DriveOptionsError(f"--neutral-frame must be >= 0, got {self.neutral_frame}.")
        if self.driving_face < 0 or self.hold_s < 0 or self.fade_s < 0:
            raise DriveOptionsError("--driving-face, hold and fade times must be >= 0.")


class FrameState(enum.Enum):
    DETECTED = "detected"  # the face, found by a detection
    TRACKED = "tracked"  # the face, followed from the previous frame
    HELD = "held"  # face lost: the last expression held
    FADING = "fading"  # face lost: fading back to the source's own expression
    SOURCE = "source"  # face lost (or not yet found): the source as it is


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    """Pass 1 for one output frame. video_index: the driving frame number. landmarks: (468, 3)
    float32 photo px of the driving face, None when lost. fit: its ExpressionFit (crop px), None
    when lost. track_ms / fit_ms / decode_ms: time spent."""

    video_index: int
    status: TrackStatus
    landmarks: np.ndarray | None
    fit: ExpressionFit | None
    decode_ms: float
    track_ms: float
    fit_ms: float


@dataclass(frozen=True, eq=False)
class DrivingTrack:
    """Pass 1 for a clip: one :class:`FrameAnalysis` per output frame, and the neutral.

    neutral_index: the position in ``frames`` of the neutral frame (relative mode), else -1.
    aus: (N, 20) float64 smoothed driving AUs; vertices: (N, 468, 3) float32 smoothed driving mesh
    (crop px); weight: (N,) float64 the expression weight (1 face present, < 1 held / fading / source);
    state: the :class:`FrameState` of each frame. fps: the output frame rate."""

    frames: tuple[FrameAnalysis, ...]
    neutral_index: int
    aus: np.ndarray
    vertices: np.ndarray
    weight: np.ndarray
    state: tuple[FrameState, ...]
    fps: Fraction

    @property
    def lost_frames(self) -> int:
        return sum(s in (FrameState.HELD, FrameState.FADING, FrameState.SOURCE) for s in self.state)


@dataclass(frozen=True)
class StageTimes:
    """Milliseconds per stage of one output frame (analysis: decode, track, fit; render:
    align, interpolate, flow (the pipeline's 'render'), editor, paste; encode is filled by the writer)."""

    decode_ms: float = 0.0
    track_ms: float = 0.0
    fit_ms: float = 0.0
    align_ms: float = 0.0
    interpolate_ms: float = 0.0
    flow_ms: float = 0.0
    editor_ms: float = 0.0
    paste_ms: float = 0.0
    encode_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return sum(getattr(self, f) for f in self.__dataclass_fields__)

    def as_dict(self) -> dict[str, float]:
        return {f: float(getattr(self, f)) for f in self.__dataclass_fields__}


@dataclass(frozen=True, eq=False)
class DrivenFrame:
    """One output frame. index: its number in the output; video_index: the driving frame.
    image: (H, W, 3) uint8 the source photo with this frame's expression (read-only).
    state / weight: see :class:`DrivingTrack`; aus: (20,) the target AUs used; times: StageTimes
    (analysis and render; ``encode_ms`` 0)."""

    index: int
    video_index: int
    image: np.ndarray
    state: FrameState
    weight: float
    aus: np.ndarray
    times: StageTimes


@dataclass(frozen=True)
class DriveProgress:
    """phase: 'analyse' or 'render'; done / total frames of that phase."""

    phase: str
    done: int
    total: int


@dataclass(frozen=True)
class DriveSummary:
    """What a drive did. output: the file or folder written; frames: how many; lost_frames: how
    many had no driving face (held, faded or the source as is); lost_ranges: output frame
    ranges [a, b) of those; neutral_video_index: the driving frame taken as neutral (-1: absolute
    mode); fps: output frame rate; seconds: wall time; mean_times: StageTimes averaged over frames
    (encode included)."""

    output: Path
    frames: int
    lost_frames: int
    lost_ranges: tuple[tuple[int, int], ...]
    neutral_video_index: int
    fps: Fraction
    seconds: float
    mean_times: StageTimes = field(default_factory=StageTimes)


ProgressFn = Callable[[DriveProgress], None]
CancelFn = Callable[[], bool]


def plan_frames(video_fps: float, frame_count: int, start: float, end: float | None,
                fps: float | None) -> tuple[list[int], Fraction]:
    """The driving frame number of each output frame, and the output rate.

    video_fps: the driving video's rate (> 0); frame_count: its frames (as the container says;
    the reader stops early if it has fewer). Output frame i shows the driving frame at time
    ``start + i / fps``."""
    if video_fps <= 0:
        raise DriveOptionsError("The driving video does not say its frame rate.")
    rate = Fraction(video_fps).limit_denominator(1001)
    out = rate if fps is None else Fraction(fps).limit_denominator(1001)
    first = int(round(start * video_fps))
    last = frame_count if end is None else min(frame_count, int(round(end * video_fps)))
    if first >= last:
        raise DriveOptionsError(f"--start {start:g} s is at or past the end of the driving video "
                                f"({frame_count / video_fps:.2f} s).")
    n = int((last - first) * out / rate)
    indices = [first + int(i * rate / out) for i in range(max(n, 1))]
    return [i for i in indices if i < last], out


class VideoDriver:
    """Drives ``source`` with the video at ``driving`` (module docstring).

    pipeline: the EditPipeline (its editor, crop size, face networks); source: the prepared
    source (``pipeline.prepare_source``)."""

    def __init__(self, pipeline: EditPipeline, source: PreparedSource, driving: str | os.PathLike[str],
                 options: DriveOptions = DriveOptions()) -> None:
        self.pipeline = pipeline
        self.source = source
        self.path = Path(driving)
        self.options = options
        self.info = probe_video(self.path)
        self.indices, self.fps = plan_frames(self.info.fps, self.info.frame_count, options.start,
                                             options.end, options.fps)

    # --- pass 1 -------------------------------------------------------------------------------

    def _video_frames(self) -> Iterator[tuple[int, np.ndarray, float]]:
        """(output position, frame, decode ms) for every planned index, decoding each once."""
        first = self.indices[0]
        wanted = iter(enumerate(self.indices))
        pos, target = next(wanted)
        t = time.perf_counter()
        for offset, frame in enumerate(iter_frames(self.path, start=first)):
            ms = (time.perf_counter() - t) * 1e3
            while target == first + offset:
                yield pos, frame, ms
                nxt = next(wanted, None)
                if nxt is None:
                    return
                pos, target = nxt
            t = time.perf_counter()

    def analyse(self, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> DrivingTrack:
        """Pass 1: track and fit the driving face on every planned frame, then the neutral,
        smoothing and lost-face weights. Raises NoFaceError when the face is never found."""
        opts = self.options
        tracker = FaceTracker(self.pipeline.analyzer, opts.tracker)
        geometry = self.pipeline.geometry
        config = self.pipeline.align_config
        total = len(self.indices)
        started = False
        out: list[FrameAnalysis] = []
        for pos, frame, decode_ms in self._video_frames():
            _check_cancel(cancel)
            t0 = time.perf_counter()
            if not started:
                try:
                    step = tracker.start(frame, opts.driving_face)
                    started = True
                except FaceIndexError:
                    raise
                except NoFaceError:  # no face yet: the source as it is until one shows
                    step = None
            else:
                step = tracker.step(frame)
            t1 = time.perf_counter()
            fit = None
            landmarks = step.landmarks if step is not None else None
            if landmarks is not None:
                crop_points = map_points(landmarks, alignment_matrix(landmarks, config)).astype(np.float32)
                fit = geometry.fit(crop_points)
            t2 = time.perf_counter()
            out.append(FrameAnalysis(
                video_index=self.indices[pos], status=step.status if step is not None else TrackStatus.LOST,
                landmarks=landmarks, fit=fit, decode_ms=decode_ms, track_ms=(t1 - t0) * 1e3,
                fit_ms=(t2 - t1) * 1e3))
            if progress is not None:
                progress(DriveProgress("analyse", pos + 1, total))
        if not started:
            raise NoFaceError(f"No face was found in '{self.path.name}' between the chosen start and end.")
        return self._track(tuple(out))

    def _track(self, frames: tuple[FrameAnalysis, ...]) -> DrivingTrack:
        opts = self.options
        cal = self.pipeline.geometry.calibration
        neutral = -1
        if opts.relative:
            if opts.neutral_frame is not None:
                neutral = self._neutral_position(frames, opts.neutral_frame)
            else:
                neutral = pick_neutral([None if f.fit is None else neutral_score(f.fit.aus, mouth_gap(
                    f.fit.landmarks), cal) for f in frames])
        aus, verts, weight, state = smooth_and_fade(frames, self.fps, opts)
        return DrivingTrack(frames=frames, neutral_index=neutral, aus=aus, vertices=verts, weight=weight,
                            state=state, fps=self.fps)

    def _neutral_position(self, frames: tuple[FrameAnalysis, ...], k: int) -> int:
        """The position of the driven frame nearest to driving frame ``k`` that shows the face."""
        first, last = frames[0].video_index, frames[-1].video_index
        if not first <= k <= last:
            raise DriveOptionsError(f"--neutral-frame {k} is outside the driven frames ({first} to {last}).")
        have = [i for i, f in enumerate(frames) if f.fit is not None]
        return min(have, key=lambda i: abs(frames[i].video_index - k))

    # --- pass 2 -------------------------------------------------------------------------------

    def target_aus(self, track: DrivingTrack, pos: int) -> np.ndarray:
        """(20,) float64 the target AUs of output frame ``pos`` (relative or absolute)."""
        aus = track.aus[pos]
        if track.neutral_index >= 0:
            return relative_aus(self.source.fit.aus, aus, track.aus[track.neutral_index])
        return aus

    def frame_params(self, weight: float) -> EditParams:
        """The EditParams of one frame: the user's, with the intensity times ``weight``."""
        params = self.options.params
        return params.with_alpha(params.alpha * weight)

    def driving_vertices(self, track: DrivingTrack, pos: int) -> np.ndarray:
        """(468, 3) float32 crop px: the driving mesh of output frame ``pos``; in relative mode its
        lip gap set to the source's own plus the driving change (:func:`relative_gap`)."""
        verts = track.vertices[pos]
        if track.neutral_index < 0:
            return verts
        goal = relative_gap(mouth_gap(self.source.vertices), mouth_gap(verts),
                            mouth_gap(track.vertices[track.neutral_index]),
                            self.pipeline.geometry.calibration.closed_mouth)
        return with_mouth_gap(verts, goal)

    def frames(self, track: DrivingTrack, *, progress: ProgressFn | None = None,
               cancel: CancelFn | None = None) -> Iterator[DrivenFrame]:
        """Pass 2: one :class:`DrivenFrame` per output frame, in order."""
        pipe = self.pipeline
        source_image = np.asarray(self.source.photo.rgb)
        aligned: AlignedFace | None = None
        last_fit: ExpressionFit | None = None
        total = len(track.frames)
        for pos, frame, decode_ms in self._video_frames():
            _check_cancel(cancel)
            info = track.frames[pos]
            w = float(track.weight[pos])
            t0 = time.perf_counter()
            if info.landmarks is not None:
                aligned = align_face(frame, info.landmarks, pipe.align_config)
                last_fit = info.fit
            t1 = time.perf_counter()
            aus = self.target_aus(track, pos)
            times = StageTimes(decode_ms=decode_ms + info.decode_ms, track_ms=info.track_ms,
                               fit_ms=info.fit_ms, align_ms=(t1 - t0) * 1e3)
            if w <= 0.0 or aligned is None or last_fit is None:
                image = source_image
                aus = self.source.fit.aus
            else:
                reference = PreparedReference(
                    aus=aus, params=last_fit.params, aligned=aligned,
                    vertices=self.driving_vertices(track, pos),
                    faces=(), face_index=0, photo=None, name=f"{self.path.name}#{info.video_index}",
                    key=("drive", id(track), pos))
                result = pipe.render(self.source, reference, self.frame_params(w))
                image = result.image
                tm = result.timings
                times = StageTimes(decode_ms=times.decode_ms, track_ms=times.track_ms, fit_ms=times.fit_ms,
                                   align_ms=times.align_ms, interpolate_ms=tm.interpolate_ms,
                                   flow_ms=tm.render_ms, editor_ms=tm.editor_ms, paste_ms=tm.paste_ms)
            yield DrivenFrame(index=pos, video_index=info.video_index, image=image, state=track.state[pos],
                              weight=w, aus=aus, times=times)
            if progress is not None:
                progress(DriveProgress("render", pos + 1, total))


def smooth_and_fade(frames: tuple[FrameAnalysis, ...], fps: Fraction, options: DriveOptions
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[FrameState, ...]]:
    """Smoothed AUs (N, 20), smoothed driving mesh (N, 468, 3) float32, weights (N,) and states
    (module docstring, step 2). Lost frames carry the last seen values (held); frames before the
    face is first seen carry the first seen values at weight 0."""
    n = len(frames)
    first = next(i for i, f in enumerate(frames) if f.fit is not None)
    dt = float(1 / fps)
    settings = one_euro_settings(options.smooth)
    ref = frames[first].fit
    iod = float(np.linalg.norm(ref.landmarks[33, :2] - ref.landmarks[263, :2])) or 1.0
    au_filter = OneEuroFilter(ref.aus.shape, settings) if settings else None
    v_filter = OneEuroFilter(ref.landmarks.shape, settings, speed_scale=iod) if settings else None
    aus = np.zeros((n, ref.aus.size))
    verts = np.zeros((n,) + ref.landmarks.shape, np.float32)
    weight = np.zeros(n)
    state: list[FrameState] = []
    hold = int(round(options.hold_s * float(fps)))
    fade = max(1, int(round(options.fade_s * float(fps))))
    fade_in = max(1, fade // 2)
    cur_a, cur_v = ref.aus, ref.landmarks
    lost_for, w = 0, 0.0
    for i, f in enumerate(frames):
        if f.fit is not None:
            a, v = f.fit.aus, f.fit.landmarks
            if au_filter is not None:
                a, v = au_filter(a, dt), v_filter(v, dt)
            cur_a, cur_v = a, v
            lost_for = 0
            w = 1.0 if i == first else min(1.0, w + 1.0 / fade_in)
            state.append(FrameState.DETECTED if f.status is TrackStatus.DETECTED else FrameState.TRACKED)
        elif i < first:
            w = 0.0
            state.append(FrameState.SOURCE)
        else:
            lost_for += 1
            if lost_for <= hold:
                state.append(FrameState.HELD)
            else:
                w = max(0.0, w - 1.0 / fade)
                state.append(FrameState.FADING if w > 0 else FrameState.SOURCE)
        aus[i], verts[i], weight[i] = cur_a, cur_v, w
    return aus, verts, weight, tuple(state)


def lost_ranges(states: tuple[FrameState, ...]) -> tuple[tuple[int, int], ...]:
    """[a, b) runs of output frames without the driving face."""
    lost = [s in (FrameState.HELD, FrameState.FADING, FrameState.SOURCE) for s in states]
    out, start = [], None
    for i, x in enumerate([*lost, False]):
        if x and start is None:
            start = i
        elif not x and start is not None:
            out.append((start, i))
            start = None
    return tuple(out)


def _check_cancel(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise DriveCancelled("Cancelled; nothing was written.")
