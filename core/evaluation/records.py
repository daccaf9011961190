"""Typed results of an evaluation: the scores of one (pair, editor), and how a pair ended.

:class:`PairScores` holds every per-pair number ``gafet evaluate --json`` writes, under the
JSON keys of :mod:`core.metrics` (``csim``, ``acd``, ``aed``, ``au_h``, ``ed``, ...). A number
is None when it cannot be computed for that pair (no identity judge installed; no target for the
paired metrics; no picture for a preset reference). Emotion probabilities are 7-tuples in the
order of :data:`core.metrics.emotion.EMOTIONS`; face measures (``geometry_*``) are
:class:`~core.metrics.face_geometry.FaceGeometry`, written as {measure: value}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from core.errors import GafetError
from core.evaluation.editors import EvalEditor
from core.evaluation.pairs import EvalPair
from core.evaluation.views import FaceView
from core.metrics.emotion import EMOTIONS
from core.metrics.face_geometry import GAP_KEYS, FaceGeometry

Probabilities = tuple[float, float, float, float, float, float, float]


def probabilities(p: np.ndarray | None) -> Probabilities | None:
    """A (7,) array as a 7-tuple of floats (None stays None)."""
    if p is None:
        return None
    values = tuple(float(v) for v in np.asarray(p, dtype=np.float64).reshape(-1))
    if len(values) != len(EMOTIONS):
        raise ValueError(f"expected {len(EMOTIONS)} emotion probabilities, got {len(values)}")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class PairScores:
    """Every per-pair number (module docstring). Identity: output vs source. Expression and
    emotion: output vs reference. Paired: output vs target, both cut with the target's alignment."""

    csim: float | None
    acd: float | None
    identity_distance: float | None
    aed: float
    au_h: float
    ed: float
    emotion_source: Probabilities | None
    emotion_reference: Probabilities | None
    emotion_output: Probabilities | None
    reference_emotion: str | None  # the reference's class: its judged top class, or a preset's name
    expression_agrees: bool | None
    l1: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    lpips: float | None = None
    expression_agrees_clear: bool | None = None  # None: not in issue 10's subset (emotion.is_clear_pair)
    brow_gap_closure: float | None = None  # dlib-68 geometry, (O - S) / (R - S): core.metrics.face_geometry
    eye_gap_closure: float | None = None
    mouth_gap_closure: float | None = None
    mouth_width_gap_closure: float | None = None
    geometry_source: FaceGeometry | None = None
    geometry_reference: FaceGeometry | None = None
    geometry_output: FaceGeometry | None = None
    detail_ratio: float | None = None  # output vs source: core.metrics.detail
    face_box_mad: float | None = None

    NUMBER_KEYS = ("csim", "acd", "identity_distance", "aed", "au_h", "ed", "expression_agrees",
                   "l1", "psnr", "ssim", "lpips", "expression_agrees_clear", *GAP_KEYS, "detail_ratio",
                   "face_box_mad")
    RATE_KEYS = ("expression_agrees", "expression_agrees_clear")  # 0 / 1 outcomes: only the mean means much

    def number(self, key: str) -> float | None:
        """One per-pair number as a float (``expression_agrees`` as 0 / 1), None when absent."""
        value = getattr(self, key)
        return None if value is None else float(value)

    def to_json(self, *, finite: bool = True) -> dict[str, object]:
        """JSON values; emotion probabilities as {class: p}. ``finite``: a non-finite number (the
        PSNR of identical images) becomes null, as strict JSON needs (the cache keeps it)."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("emotion_"):
                out[f.name] = None if value is None else dict(zip(EMOTIONS, value, strict=True))
            elif f.name.startswith("geometry_"):
                out[f.name] = None if value is None else value.to_json()
            elif finite and isinstance(value, float) and not math.isfinite(value):
                out[f.name] = None
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PairScores:
        values: dict[str, object] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if f.name.startswith("emotion_") and isinstance(value, dict):
                value = tuple(float(value[c]) for c in EMOTIONS)
            elif f.name.startswith("geometry_") and isinstance(value, dict):
                value = FaceGeometry.from_json(value)
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class PairRecord:
    """The scores of one pair under one editor, with the output as the judges saw it
    (``output.crop``: its aligned face crop; ``output.descriptor``: for FD-dlib)."""

    pair: EvalPair
    editor: EvalEditor
    alpha: float
    scores: PairScores
    output: FaceView

    def to_json(self) -> dict[str, object]:
        """One row of ``--json``'s ``pairs``: the pair, the editor, alpha and every score."""
        p = self.pair
        head: dict[str, object] = {
            "source": str(p.source), "source_face": p.source_face, "reference": p.reference_text,
            "reference_face": p.reference_face, "target": None if p.target is None else str(p.target),
            "editor": self.editor.name, "alpha": self.alpha,
        }
        return head | self.scores.to_json()


@dataclass(frozen=True, eq=False)
class PairOutcome:
    """How one (pair, editor) ended: a ``record``, an ``error`` (reported and skipped) or a
    ``skipped`` reason (the editor does not apply, e.g. mouth-paste with a preset).
    cached: the record came from the cache."""

    pair: EvalPair
    editor: EvalEditor
    record: PairRecord | None = None
    error: GafetError | None = None
    skipped: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.record is not None
