"""Per-editor aggregates of an evaluation: medians and means of every per-pair number, and the
set metrics (FID, KID, IS, FD-dlib) of each editor's outputs against the real faces.

The real set is every judged source and reference face of the evaluation (their aligned crops
for FID / KID, their descriptors for FD-dlib). A metric that cannot be computed is listed in
:attr:`EvaluationSummary.unavailable` with the reason (a sentence naming the missing file and
how to import it, or the sample count it lacks); ``requested`` marks the ones the user asked for
by name (``--metrics``), which the CLI turns into exit code 5 when weights are missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.evaluation.editors import EvalEditor
from core.evaluation.judges import Judges
from core.evaluation.records import PairOutcome, PairRecord, PairScores
from core.evaluation.views import FaceView
from core.metrics import all_metrics, metric
from core.metrics.distribution import fd_dlib, fid, inception_score_splits, kid
from core.metrics.inception import FidInception
from core.metrics.weights import missing_message

_BATCH = 16


@dataclass(frozen=True)
class Unavailable:
    """A metric left out. reason: a sentence. missing_weights: it lacks imported weights (exit 5
    when ``requested``). requested: the user named it in ``--metrics``."""

    key: str
    label: str
    reason: str
    missing_weights: bool
    requested: bool


@dataclass(frozen=True, eq=False)
class EditorSummary:
    """One editor's row. medians / means: per-pair metric key -> value over the pairs that
    have it (``expression_agrees`` only in means: the agreement rate). set_values: set metric key -> value.
    is_std: the spread of IS over its splits, when IS was computed."""

    editor: EvalEditor
    records: tuple[PairRecord, ...]
    failed: int
    skipped: int
    medians: dict[str, float]
    means: dict[str, float]
    set_values: dict[str, float]
    is_std: float | None = None

    @property
    def evaluated(self) -> int:
        return len(self.records)

    def value(self, key: str, statistic: str = "mean") -> float | None:
        """A set metric's value, or the per-pair metric's mean (or median) over the pairs."""
        if key in self.set_values:
            return self.set_values[key]
        if key in PairScores.RATE_KEYS:
            return self.means.get(key)  # the agreement rate, whatever the statistic
        return (self.medians if statistic == "median" else self.means).get(key)


@dataclass(frozen=True, eq=False)
class EvaluationSummary:
    """Every editor's row, the metrics left out, and what the numbers were measured with.
    csim_judge: the network CSIM was computed with (the identity judge's name without an imported
    one). metric_labels: labels that differ from the registry's (CSIM named after an imported
    network: "CSIM (CurricularFace)"). landmark_judge: the face-geometry judge's name, or None."""

    editors: tuple[EditorSummary, ...]
    unavailable: tuple[Unavailable, ...]
    real_faces: int
    identity_judge: str | None
    emotion_judge: str | None
    same_person_threshold: float | None
    csim_judge: str | None = None
    metric_labels: dict[str, str] = field(default_factory=dict)
    landmark_judge: str | None = None

    def label(self, key: str) -> str:
        """The table / report label of metric ``key`` in this evaluation."""
        return self.metric_labels.get(key) or metric(key).label

    def missing_requested_weights(self) -> list[Unavailable]:
        return [u for u in self.unavailable if u.requested and u.missing_weights]


def _stats(records: Sequence[PairRecord]) -> tuple[dict[str, float], dict[str, float]]:
    medians, means = {}, {}
    for key in PairScores.NUMBER_KEYS:
        values = np.array([v for r in records if (v := r.scores.number(key)) is not None], dtype=np.float64)
        values = values[np.isfinite(values)] if key == "psnr" else values
        if len(values):
            means[key] = float(np.mean(values))
            if key not in PairScores.RATE_KEYS:  # a 0/1 outcome: only its rate (the mean) means something
                medians[key] = float(np.median(values))
    return medians, means


def inception_features(model: FidInception, crops: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(pool (N, 2048), class probabilities (N, 1008)) float64 of (S, S, 3) uint8 RGB crops."""
    device = next(model.parameters()).device
    pools, probs = [], []
    with torch.no_grad():
        for i in range(0, len(crops), _BATCH):
            batch = np.stack(crops[i:i + _BATCH])
            x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float() / 255.0
            out = model(x)
            pools.append(out.pool.double().cpu().numpy())
            probs.append(torch.softmax(out.logits.double(), dim=1).cpu().numpy())
    return np.concatenate(pools), np.concatenate(probs)


def summarize(outcomes: Sequence[PairOutcome], editors: Sequence[EvalEditor],
              real_views: Sequence[FaceView], *, judges: Judges, requested: frozenset[str] = frozenset(),
              inception: FidInception | None = None, lpips_ready: bool = False,
              has_targets: bool = False) -> EvaluationSummary:
    """Aggregate ``outcomes`` per editor (module docstring).

    requested: metric keys the user named (empty: none named, everything that can be computed).
    inception: the FID network with its weights, or None (FID, KID and IS are then unavailable).
    lpips_ready: whether LPIPS was computed (its weights were imported). has_targets: whether any
    pair has a ground truth (without one, the paired metrics are simply not applicable).
    """
    wanted = lambda key: not requested or key in requested  # noqa: E731
    unavailable: list[Unavailable] = []
    labels = {} if judges.csim is None else {"csim": f"{metric('csim').label} ({judges.csim.label})"}

    def leave_out(key: str, reason: str, *, weights: bool = False) -> None:
        label = labels.get(key) or next(m.label for m in all_metrics() if m.key == key)
        if all(u.key != key for u in unavailable):
            unavailable.append(Unavailable(key, label, reason, weights, key in requested))

    for m in all_metrics():
        if not wanted(m.key) or (m.group == "paired" and not has_targets):
            continue
        csim_net = m.key == "csim" and judges.csim is not None  # CSIM from an imported network
        if m.needs == "identity-judge" and judges.identity is None and not csim_net:
            leave_out(m.key, judges.identity_problem or "No identity judge is installed.")
        elif m.needs == "emotion-judge" and judges.emotion is None:
            leave_out(m.key, judges.emotion_problem or "No emotion judge is installed.")
        elif m.needs == "landmark-judge" and judges.landmarks is None:
            leave_out(m.key, judges.landmarks_problem or "No landmark judge is installed.")
        elif m.needs == "inception-fid" and inception is None:
            leave_out(m.key, missing_message("inception-fid"), weights=True)
        elif m.needs == "lpips-alexnet" and not lpips_ready:
            leave_out(m.key, missing_message("lpips-alexnet"), weights=True)

    real_desc = [v.descriptor for v in real_views if v.descriptor is not None]
    real_feats = None
    if inception is not None and len(real_views) >= 2:
        real_feats = inception_features(inception, [v.crop for v in real_views])[0]

    rows = []
    too_few: dict[str, str] = {}  # set metric -> why an editor lacks it (listed if no editor has it)
    for editor in editors:
        mine = [o for o in outcomes if o.editor == editor]
        records = tuple(o.record for o in mine if o.record is not None)
        medians, means = _stats(records)
        set_values: dict[str, float] = {}
        is_std = None
        out_desc = [r.output.descriptor for r in records if r.output.descriptor is not None]
        if wanted("fd_dlib") and judges.identity is not None:
            if len(out_desc) >= 2 and len(real_desc) >= 2:
                set_values["fd_dlib"] = fd_dlib(np.stack(out_desc), np.stack(real_desc))
            else:
                too_few["fd_dlib"] = "FD-dlib needs at least 2 outputs and 2 real faces per editor."
        if inception is not None and any(wanted(k) for k in ("fid", "kid", "is")):
            if len(records) >= 2 and real_feats is not None:
                pool, probs = inception_features(inception, [r.output.crop for r in records])
                if wanted("fid"):
                    set_values["fid"] = fid(pool, real_feats)
                if wanted("kid"):
                    set_values["kid"] = kid(pool, real_feats)
                if wanted("is"):
                    score = inception_score_splits(probs)
                    set_values["is"], is_std = score.mean, score.std
            else:
                for key in ("fid", "kid", "is"):
                    too_few[key] = "FID, KID and IS need at least 2 outputs and 2 real faces per editor."
        rows.append(EditorSummary(editor=editor, records=records,
                                  failed=sum(o.error is not None for o in mine),
                                  skipped=sum(o.skipped is not None for o in mine),
                                  medians=medians, means=means, set_values=set_values, is_std=is_std))
    for key, reason in too_few.items():
        if all(key not in row.set_values for row in rows):
            leave_out(key, reason)
    return EvaluationSummary(
        editors=tuple(rows), unavailable=tuple(unavailable), real_faces=len(real_views),
        identity_judge=None if judges.identity is None else judges.identity.name,
        emotion_judge=None if judges.emotion is None else judges.emotion.name,
        same_person_threshold=None if judges.identity is None else judges.identity.same_person_threshold,
        csim_judge=judges.csim.name if judges.csim is not None else (
            None if judges.identity is None else judges.identity.name),
        metric_labels=labels,
        landmark_judge=None if judges.landmarks is None else judges.landmarks.name)
