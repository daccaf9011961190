"""What to evaluate: (source, reference[, target]) pairs, from a CSV file, two folders or a video.

A reference is a photo, or a built-in expression preset written ``preset:NAME`` (presets have
no picture: the emotion judge's "reference class" is then the preset's name, and picture-based
baselines do not apply). A target is the ground truth an ideal output would equal (only in
self-reenactment: the same person and frame as the reference).

* :func:`read_pairs_csv`: a CSV with a header ``source,reference[,target]`` (optionally also
  ``source_face``, ``reference_face``: which face of a group photo, 0 = leftmost); relative
  paths are relative to the CSV's folder.
* :func:`folder_pairs`: every source photo of one folder with every reference photo of another.
* :func:`video_pairs`: self-reenactment from one video: each frame of the hold-out range is the
  reference and the target; the source is the last frame before the range (or the first after).
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import GafetError
from core.io import iter_frames
from core.io.atomic import atomic_path

PRESET_PREFIX = "preset:"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif")


class PairsError(GafetError):
    """A pairs file, folder or hold-out range that cannot be used (exit code 1)."""


@dataclass(frozen=True)
class EvalPair:
    """One pair to evaluate.

    source: the portrait to edit. reference: a photo path, or None for a preset (``preset``).
    preset: a built-in preset name when the reference is a preset, else None.
    target: the ground truth (self-reenactment), or None.
    source_face / reference_face: which face of each photo (0 = leftmost).
    """

    source: Path
    reference: Path | None = None
    preset: str | None = None
    target: Path | None = None
    source_face: int = 0
    reference_face: int = 0

    def __post_init__(self) -> None:
        if (self.reference is None) == (self.preset is None):
            raise PairsError("A pair needs exactly one reference: a photo or a preset.")
        if self.source_face < 0 or self.reference_face < 0:
            raise PairsError(f"Face indices start at 0, got {self.source_face} and {self.reference_face}.")

    @property
    def reference_text(self) -> str:
        """The reference as written in a pairs file: its path, or ``preset:NAME``."""
        return f"{PRESET_PREFIX}{self.preset}" if self.preset is not None else str(self.reference)

    @property
    def label(self) -> str:
        """A short name: ``source[#face] → reference[#face]``."""
        src = self.source.name + (f"#{self.source_face}" if self.source_face else "")
        ref = self.preset if self.preset is not None else self.reference.name  # type: ignore[union-attr]
        ref += f"#{self.reference_face}" if self.reference_face and self.preset is None else ""
        return f"{src} → {ref}"


def reference_of(text: str, base: Path | None = None) -> tuple[Path | None, str | None]:
    """(photo, preset) for a reference written as a path or ``preset:NAME``."""
    text = text.strip()
    if text.lower().startswith(PRESET_PREFIX):
        name = text[len(PRESET_PREFIX):].strip()
        if not name:
            raise PairsError(f"'{text}' names no preset; write preset:NAME, e.g. preset:happy.")
        return None, name
    return _path(text, base), None


def _path(text: str, base: Path | None) -> Path:
    p = Path(text.strip()).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _face(value: str | None, where: str) -> int:
    if value is None or not value.strip():
        return 0
    try:
        return int(value)
    except ValueError:
        raise PairsError(f"{where}: a face index must be a whole number, got '{value}'.") from None


def read_pairs_csv(path: str | os.PathLike[str]) -> list[EvalPair]:
    """The pairs of a CSV file (module docstring). Raises :class:`PairsError` for a missing file,
    a missing column or an empty list; the photos themselves are checked when evaluated."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise PairsError(f"Cannot read the pairs file '{path}': {err.strerror or err}.") from err
    rows = csv.DictReader(text.splitlines())
    fields = [f.strip().lower() for f in rows.fieldnames or []]
    if "source" not in fields or "reference" not in fields:
        raise PairsError(f"'{path}' needs a header line with the columns source,reference[,target]; "
                         f"found {', '.join(fields) or 'none'}.")
    pairs = []
    for line, raw in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "") for k, v in raw.items()}
        if not row["source"].strip() and not row["reference"].strip():
            continue
        where = f"{path.name}, line {line}"
        if not row["source"].strip() or not row["reference"].strip():
            raise PairsError(f"{where}: both source and reference are needed.")
        reference, preset = reference_of(row["reference"], path.parent)
        target = row.get("target", "").strip()
        pairs.append(EvalPair(source=_path(row["source"], path.parent), reference=reference, preset=preset,
                              target=_path(target, path.parent) if target else None,
                              source_face=_face(row.get("source_face"), where),
                              reference_face=_face(row.get("reference_face"), where)))
    if not pairs:
        raise PairsError(f"'{path}' lists no pairs.")
    return pairs


def list_photos(folder: str | os.PathLike[str]) -> list[Path]:
    """The photo files (by suffix) directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PairsError(f"'{folder}' is not a folder of photos.")
    photos = sorted(p for p in folder.iterdir()
                    if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise PairsError(f"The folder '{folder}' has no photos ({', '.join(PHOTO_SUFFIXES)}).")
    return photos


def folder_pairs(sources: str | os.PathLike[str], references: str | os.PathLike[str]) -> list[EvalPair]:
    """Every photo of ``sources`` with every photo of ``references`` (a photo is never its own
    reference)."""
    refs = list_photos(references)
    return [EvalPair(source=s, reference=r) for s in list_photos(sources) for r in refs
            if s.resolve() != r.resolve()]


@dataclass(frozen=True)
class Holdout:
    """Frames ``start`` (inclusive) to ``end`` (exclusive) of a video, every ``step``-th one."""

    start: int
    end: int
    step: int = 1

    @classmethod
    def parse(cls, text: str, *, step: int = 1) -> Holdout:
        """``START:END`` (frame indices, END exclusive)."""
        start, sep, end = text.partition(":")
        try:
            if not sep:
                raise ValueError
            holdout = cls(int(start), int(end), step)
        except ValueError:
            raise PairsError(f"Cannot read the hold-out range '{text}'; write START:END, "
                             "e.g. 30:60.") from None
        if holdout.start < 0 or holdout.end <= holdout.start or holdout.step < 1:
            raise PairsError(f"The hold-out range {text} is empty or negative (and the step must be >= 1).")
        return holdout


def _write_frame(path: Path, frame: np.ndarray) -> None:
    if path.is_file():
        return
    with atomic_path(path) as tmp:
        Image.fromarray(frame).save(tmp, format="PNG")


def video_pairs(video: str | os.PathLike[str], holdout: Holdout, frames_dir: Path) -> list[EvalPair]:
    """Self-reenactment pairs from ``video`` (module docstring). Frames are saved losslessly as
    ``frames_dir/<video hash>/frame_NNNNNN.png`` (kept, so reruns reuse them); each hold-out frame
    is a pair's reference and target, the nearest frame outside the range its source."""
    video = Path(video)
    digest = hashlib.sha256(video.read_bytes()).hexdigest()[:16] if video.is_file() else "missing"
    folder = frames_dir / digest
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(range(holdout.start, holdout.end, holdout.step))
    source_index = holdout.start - 1 if holdout.start > 0 else holdout.end
    wanted.add(source_index)
    saved: dict[int, Path] = {}
    last = max(wanted)
    for index, frame in enumerate(iter_frames(video, max_frames=last + 1)):
        if index in wanted:
            saved[index] = folder / f"frame_{index:06d}.png"
            _write_frame(saved[index], frame)
    if source_index not in saved:
        raise PairsError(f"'{video.name}' has no frame {source_index} to use as the source "
                         f"(it has {len(saved) and max(saved) + 1} frames).")
    held = sorted(i for i in saved if i != source_index)
    if not held:
        raise PairsError(f"'{video.name}' has no frames in the hold-out range {holdout.start}:{holdout.end}.")
    src = saved[source_index]
    return [EvalPair(source=src, reference=saved[i], target=saved[i]) for i in held]
