"""MP4 output: H.264 (libx264), yuv420p, with the driving video's audio copied; written atomically.

The encoder is PyAV (the ``av`` wheel), not imageio-ffmpeg:

* it runs FFmpeg's libraries in-process: frames go to libx264 without a pipe or a child process,
  so cancelling (Ctrl+C, SIGTERM turned into an exception, the Studio's cancel) is an ordinary
  exception that closes the file, with no orphaned ``ffmpeg`` process to kill;
* it demuxes and muxes packets, so the driving video's audio is *copied* (no re-encoding, no
  second ``ffmpeg`` run to merge it), cut to ``--start/--end`` and interleaved with the video;
* its wheel bundles FFmpeg with libx264 (checked: ``av.codec.Codec("libx264", "w")``), 36 MB
  against imageio-ffmpeg's 68 MB static binary.

Atomic: the file is written under a hidden temporary name beside the output
(:func:`core.io.atomic.atomic_path`) and renamed onto it only after the container is closed; an
exception (including KeyboardInterrupt) removes the temporary file, so a cancelled or failed
encode leaves nothing at the output path.

    with VideoEncoder(out, fps=Fraction(30), size=(w, h), audio=AudioSource(clip, 2.0, 6.0)) as enc:
        for frame in frames:              # (h, w, 3) uint8 RGB
            enc.write(frame)
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from core.io.atomic import atomic_path
from core.io.errors import SaveError

# Audio codecs an MP4 may carry as they are; anything else is re-encoded to AAC.
MP4_AUDIO = ("aac", "mp3", "mp3float", "alac", "opus", "flac", "ac3", "eac3")


@dataclass(frozen=True)
class AudioSource:
    """The audio to copy: ``path``'s first audio track from ``start`` to ``end`` seconds
    (None: to its end)."""

    path: Path
    start: float = 0.0
    end: float | None = None


@dataclass(frozen=True)
class EncoderSettings:
    """crf: x264 constant quality (0 lossless .. 51; 18 is visually lossless); preset: x264 speed."""

    crf: int = 18
    preset: str = "veryfast"


def has_audio(path: str | os.PathLike[str]) -> bool:
    """True when the file has an audio track PyAV can read."""
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError):
        return False


class VideoEncoder:
    """Writes an MP4 frame by frame (module docstring). Use as a context manager.

    path: the output (.mp4); fps: frames per second (a Fraction keeps 24000/1001 exact);
    size: (width, height) of every frame, each even (yuv420p halves the chroma);
    audio: the track to copy, or None; overwrite: replace an existing file at the end.
    """

    def __init__(self, path: str | os.PathLike[str], *, fps: Fraction | float, size: tuple[int, int],
                 audio: AudioSource | None = None, settings: EncoderSettings = EncoderSettings(),
                 overwrite: bool = False) -> None:
        w, h = (int(v) for v in size)
        if w < 2 or h < 2 or w % 2 or h % 2:
            raise ValueError(f"H.264 yuv420p needs even width and height, got {w}x{h}")
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(100000)
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.size = (w, h)
        self.audio = audio
        self.settings = settings
        self.overwrite = overwrite
        self.frames_written = 0
        self._stack: contextlib.ExitStack | None = None

    # --- context ------------------------------------------------------------------------------

    def __enter__(self) -> VideoEncoder:
        import av

        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_path(self.path, overwrite=self.overwrite))
            self._out = av.open(str(tmp), "w", format="mp4")
            stack.callback(self._out.close)  # closed (trailer written) before the rename
            stream = self._out.add_stream("libx264", rate=self.fps)
            stream.width, stream.height = self.size
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self.settings.crf), "preset": self.settings.preset}
            self._video = stream
            self._audio_in = self._audio_out = self._packets = self._pending = None
            self._audio_transcoder = False
            self._start_pts, self._end_pts = 0, None
            if self.audio is not None:
                self._open_audio(stack)
        except BaseException:
            stack.__exit__(None, None, None)
            raise
        self._stack = stack
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if kind is None:
            try:
                self._finish()
            except BaseException as e:
                stack.__exit__(type(e), e, e.__traceback__)
                raise
        stack.__exit__(kind, err, tb)

    # --- writing ------------------------------------------------------------------------------

    def write(self, frame: np.ndarray) -> None:
        """frame: (height, width, 3) uint8 RGB."""
        import av

        if self._stack is None:
            raise RuntimeError("VideoEncoder.write() outside its 'with' block")
        w, h = self.size
        if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a ({h}, {w}, 3) uint8 frame, got {frame.dtype} {frame.shape}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.frames_written
        vf.time_base = 1 / self.fps
        self._mux(self._video.encode(vf))
        self.frames_written += 1
        self._feed_audio(self.frames_written / self.fps)

    def _finish(self) -> None:
        self._mux(self._video.encode(None))
        self._feed_audio(None)
        if self._audio_transcoder:
            self._mux(self._audio_out.encode(None))

    def _mux(self, packets: list) -> None:
        try:
            self._out.mux(packets)
        except OSError as e:  # a full disk, a vanished folder
            raise SaveError(self.path, f"the video could not be written ({e})") from e

    # --- audio --------------------------------------------------------------------------------

    def _open_audio(self, stack: contextlib.ExitStack) -> None:
        import av

        src = stack.enter_context(av.open(str(self.audio.path)))
        if not src.streams.audio:
            return
        stream = src.streams.audio[0]
        self._audio_in = stream
        if stream.codec_context.name in MP4_AUDIO:
            self._audio_out = self._out.add_stream_from_template(stream)
        else:
            self._audio_out = self._out.add_stream("aac", rate=stream.codec_context.sample_rate)
            self._audio_transcoder = True
        tb = stream.time_base
        self._start_pts = int(round(self.audio.start / tb))
        self._end_pts = None if self.audio.end is None else int(round(self.audio.end / tb))
        if self.audio.start > 0:
            with contextlib.suppress(av.FFmpegError):
                src.seek(self._start_pts, stream=stream, any_frame=False, backward=True)
        self._packets = src.demux(stream)

    def _feed_audio(self, until: Fraction | None) -> None:
        """Mux audio packets up to output time ``until`` seconds (None: all that remain)."""
        tb = self._audio_in.time_base if self._audio_in is not None else None
        while self._packets is not None:
            packet, self._pending = self._pending or next(self._packets, None), None
            if packet is None:
                self._packets = None
                return
            if packet.size == 0 or _pts(packet) is None or _pts(packet) < self._start_pts:
                continue  # the demuxer's final empty packet, or audio before --start
            if self._end_pts is not None and _pts(packet) >= self._end_pts:
                self._packets = None
                return
            if until is not None and (_pts(packet) - self._start_pts) * tb > until:
                self._pending = packet  # belongs after the next video frame
                return
            if self._audio_transcoder:
                for frame in self._audio_in.decode(packet):
                    frame.pts = None
                    self._mux(self._audio_out.encode(frame))
                continue
            pts, dts = _pts(packet), packet.dts
            packet.pts = pts - self._start_pts
            packet.dts = None if dts is None else dts - self._start_pts
            packet.stream = self._audio_out
            self._mux([packet])


def _pts(packet: object) -> int | None:
    pts = packet.pts
    return packet.dts if pts is None else pts
