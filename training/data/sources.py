"""What ``gafet prepare`` reads: input files, hold-out ranges, and the work units they split into.

* :func:`list_inputs`: every non-hidden regular file under the DATA paths (folders are walked
  recursively, in sorted order; a DATA path may also be a single file), classified by extension
  as a photo, a video or something else (reported and skipped).
* :class:`FrameRange` (``--holdout FILE:START:END``): frames START (inclusive) to END (exclusive)
  of a video never enter the cache. Frame indices count decoded frames from 0, exactly as
  ``gafet evaluate --video FILE --holdout START:END`` counts them, so the same range can be
  trained around and evaluated on.
* :func:`plan_units`: the work, as a deterministic list of :class:`Unit`: one per photo, and one
  per chunk of ``chunk_frames`` sampled frames of each video (so the frames of one long video are
  spread over the worker processes). Unit ids are stable across runs: they are what a resumed run
  recognises as done.

Frame sampling: a video of ``v`` frames per second is read every ``step = max(1, round(v / fps))``
frames (frames 0, step, 2·step, ...); ``fps = 0`` takes every frame.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import GafetError
from core.evaluation.pairs import PHOTO_SUFFIXES, Holdout
from core.io import probe_video
from core.io.errors import PhotoIOError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv")
DEFAULT_VIDEO_FPS = 25.0  # assumed when a container does not state its frame rate

Kind = Literal["photo", "video", "other"]


class PrepareInputError(GafetError):
    """A DATA path or a hold-out range that cannot be used (exit code 1)."""


@dataclass(frozen=True)
class FrameRange:
    """Frames ``start`` (inclusive) to ``end`` (exclusive) of the video ``file``.

    file: as the user wrote it; it matches an input whose resolved path equals it, ends with it
    (``clips/a.mp4`` matches ``/data/clips/a.mp4``), or whose file name equals it.
    """

    file: str
    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> FrameRange:
        """``FILE:START:END`` -> FrameRange. Raises PrepareInputError with an example."""
        head, sep1, end = text.rpartition(":")
        file, sep2, start = head.rpartition(":")
        if not (sep1 and sep2 and file):
            raise PrepareInputError(f"Cannot read the hold-out '{text}'; write FILE:START:END (frame "
                                    "indices, END exclusive), e.g. clip.mp4:300:420.")
        try:
            rng = Holdout.parse(f"{start}:{end}")
        except GafetError as err:
            raise PrepareInputError(f"Hold-out '{text}': {err}") from None
        return cls(file=file, start=rng.start, end=rng.end)

    def matches(self, path: Path) -> bool:
        """True when this range is about the input file ``path`` (resolved)."""
        want = Path(self.file).expanduser()
        if want.is_absolute() or os.sep in self.file or (os.altsep and os.altsep in self.file):
            try:
                if want.resolve() == path:
                    return True
            except OSError:
                pass
            tail = "/".join(p for p in Path(self.file).parts if p not in (".", "/"))
            return path.as_posix().endswith("/" + tail)
        return path.name == self.file

    def text(self) -> str:
        return f"{self.file}:{self.start}:{self.end}"


@dataclass(frozen=True)
class InputFile:
    """One file under the DATA paths: its resolved path and kind (by extension)."""

    path: Path
    kind: Kind


@dataclass(frozen=True)
class Unit:
    """One piece of work for a worker process.

    uid: stable id (``photo:<path>`` or ``video:<path>@<chunk>``).
    path: the resolved input file. kind: "photo" or "video".
    frame_start / frame_end: for a video chunk, the frame indices it covers (end exclusive;
    None: to the end of the video). frame_step: read every frame_step-th frame from 0.
    excluded: hold-out ranges (start, end) of this video; their frames are skipped.
    file_hash: for videos, the SHA-256 of the file (photos are hashed by the worker that reads them).
    chunk: the chunk number (0 for photos).
    """

    uid: str
    path: Path
    kind: Kind
    frame_start: int = 0
    frame_end: int | None = None
    frame_step: int = 1
    excluded: tuple[tuple[int, int], ...] = ()
    file_hash: str = ""
    chunk: int = 0

    def frames(self, frame_count: int | None = None) -> list[int]:
        """The frame indices this chunk wants (up to ``frame_count``, or ``frame_end``), minus the
        held-out ones. For the progress estimate; the worker reads until the video ends."""
        stop = self.frame_end if self.frame_end is not None else (frame_count or self.frame_start + 1)
        first = -(-self.frame_start // self.frame_step) * self.frame_step
        return [f for f in range(first, stop, self.frame_step)
                if not any(a <= f < b for a, b in self.excluded)]

    def wants(self, frame: int) -> bool:
        """Whether frame index ``frame`` belongs to this chunk and is not held out."""
        if frame < self.frame_start or (self.frame_end is not None and frame >= self.frame_end):
            return False
        if frame % self.frame_step:
            return False
        return not any(a <= frame < b for a, b in self.excluded)


@dataclass(frozen=True)
class Plan:
    """The work of one run: units in order, files skipped by type, the estimated image count of
    each unit (parallel to ``units``), and the hold-out frames that were excluded per video."""

    units: tuple[Unit, ...]
    unsupported: tuple[Path, ...]
    estimated_images: tuple[int, ...]
    held_out: tuple[tuple[Path, int], ...]


def classify(path: Path) -> Kind:
    suffix = path.suffix.lower()
    if suffix in PHOTO_SUFFIXES:
        return "photo"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "other"


def list_inputs(data: Sequence[str | os.PathLike[str]]) -> list[InputFile]:
    """Every non-hidden regular file under ``data`` (recursively, sorted; duplicates of the same
    resolved path once). Raises PrepareInputError for a DATA path that does not exist."""
    if not data:
        raise PrepareInputError("Name at least one folder (or file) of photos and videos to prepare.")
    seen: set[Path] = set()
    out: list[InputFile] = []
    for item in data:
        root = Path(item).expanduser()
        if not root.exists():
            raise PrepareInputError(f"'{root}' does not exist.")
        if root.is_file():
            files = [root]
        else:
            files = []
            for folder, dirs, names in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(Path(folder) / n for n in sorted(names) if not n.startswith("."))
        for f in files:
            resolved = f.resolve()
            if resolved in seen or not resolved.is_file():
                continue
            seen.add(resolved)
            out.append(InputFile(path=resolved, kind=classify(resolved)))
    return out


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def frame_step(video_fps: float, fps: float) -> int:
    """Read every ``frame_step``-th frame to sample about ``fps`` frames per second (0: all)."""
    if fps <= 0:
        return 1
    return max(1, round((video_fps or DEFAULT_VIDEO_FPS) / fps))


def plan_units(files: Sequence[InputFile], *, fps: float, chunk_frames: int,
               holdout: Sequence[FrameRange] = ()) -> Plan:
    """Split ``files`` into work units (module docstring). Videos are probed and hashed here
    (a video that cannot be probed becomes one unit, which then fails and is reported).
    Raises PrepareInputError when a hold-out range names no input video."""
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    for rng in holdout:
        if not any(f.kind == "video" and rng.matches(f.path) for f in files):
            raise PrepareInputError(f"The hold-out '{rng.text()}' names no video among the inputs.")
    units: list[Unit] = []
    estimates: list[int] = []
    unsupported: list[Path] = []
    held: list[tuple[Path, int]] = []
    for f in files:
        if f.kind == "other":
            unsupported.append(f.path)
        elif f.kind == "photo":
            units.append(Unit(uid=f"photo:{f.path}", path=f.path, kind="photo"))
            estimates.append(1)
        else:
            excluded = tuple(sorted((r.start, r.end) for r in holdout if r.matches(f.path)))
            try:
                info = probe_video(f.path)
                step, count = frame_step(info.fps, fps), info.frame_count
                file_hash = sha256_file(f.path)
            except (PhotoIOError, OSError):
                units.append(Unit(uid=f"video:{f.path}@0", path=f.path, kind="video", excluded=excluded))
                estimates.append(1)
                continue
            span = chunk_frames * step
            chunks = max(1, math.ceil(count / span)) if count else 1
            for c in range(chunks):
                end = (c + 1) * span if c < chunks - 1 else None
                unit = Unit(uid=f"video:{f.path}@{c}", path=f.path, kind="video", frame_start=c * span,
                            frame_end=end, frame_step=step, excluded=excluded, file_hash=file_hash, chunk=c)
                units.append(unit)
                estimates.append(len(unit.frames(count)))
            if excluded:
                all_frames = range(0, count or 0, step)
                held.append((f.path, sum(1 for i in all_frames if any(a <= i < b for a, b in excluded))))
    return Plan(units=tuple(units), unsupported=tuple(unsupported), estimated_images=tuple(estimates),
                held_out=tuple(held))
