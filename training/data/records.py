"""Typed records of prepared faces and of work units (shared by the workers, the writer and the
readers of the face cache; no heavy imports, so DataLoader workers stay light)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

SKIP_REASONS = ("unreadable", "no_face", "small_face", "bad_face", "duplicate", "unsupported")


@dataclass(frozen=True, kw_only=True)
class ExtractConfig:
    size: int  # R: aligned crop side in px
    neutraliser: str  # a name in training.data.neutraliser.NEUTRALISERS
    max_upscale: float  # skip faces the crop enlarges more than this (crop px per photo px)
    detect_side: int = 1920  # faces are detected on a copy with at most this long side (px)


class FaceArrays(NamedTuple):
    """One aligned face (X or X_n) and its fitted parameters, in crop px.

    image: (R, R, 3) uint8 RGB. landmarks: (468, 3) float32 (pixel centres at integers, z in px).
    expression: (20,) float32 AUs. identity: (468, 3) float32 model units. scale: () float32;
    rotation: (3, 3) float32; translation: (3,) float32 (the pose: model frame -> crop px).
    """

    image: np.ndarray
    landmarks: np.ndarray
    expression: np.ndarray
    identity: np.ndarray
    scale: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray


class FaceSample(NamedTuple):
    """One face for the cache: X, X_n (None with the ``none`` neutraliser) and where it came from.

    matrix: (2, 3) float32 photo px -> crop px. source: the input file. frame: the video frame
    index (-1 for a photo). face: index in its image, left to right. presence: mesh face score.
    upscale: crop px per photo px. residual: RMS of the fit's identity residual (model units).
    """

    x: FaceArrays
    xn: FaceArrays | None
    matrix: np.ndarray
    source: str
    frame: int
    face: int
    presence: float
    upscale: float
    residual: float


class Skip(NamedTuple):
    """Something left out, for the report: reason is one of :data:`SKIP_REASONS`."""

    path: str
    frame: int | None
    face: int | None
    reason: str
    message: str


class UnitResult(NamedTuple):
    """The outcome of one unit.

    keys: content hashes that identify it for duplicate detection (photos: file bytes and decoded
    pixels; video chunks: file bytes + chunk number). images: photos / frames decoded.
    held_out: frames skipped by a hold-out range. seconds / cpu_seconds: wall and CPU time spent
    in the worker (at one thread, CPU time is the uncontended one-core cost).
    """

    uid: str
    samples: tuple[FaceSample, ...]
    skipped: tuple[Skip, ...]
    keys: tuple[str, ...]
    images: int
    held_out: int
    seconds: float
    cpu_seconds: float = 0.0
