"""The evaluation as JSON (``gafet evaluate --json OUT``).

    {"settings": {...}, "judges": {...},
     "editors": [{"editor", "evaluated", "failed", "skipped", "medians": {...}, "means": {...},
                  "set_metrics": {...}, "same_person_rate"}],
     "pairs": [{"source", "reference", "target", "editor", "alpha", "csim", "acd", "aed", "au_h",
                "ed", "emotion_source", "emotion_reference", "emotion_output",
                "expression_agrees", "identity_distance", ...}],
     "failures": [{"source", "reference", "editor", "error", "exit_code"}],
     "skipped": [{"source", "reference", "editor", "reason"}],
     "unavailable": [{"metric", "label", "reason"}],
     "metric_labels": {key: label}}

``judges.csim`` names the network CSIM was computed with (an imported CurricularFace / ArcFace, or
the identity judge); ``metric_labels`` gives every metric's table label in this evaluation
("csim": "CSIM (CurricularFace)" with an imported network).

Emotion probabilities are {class: p} over the 7 classes; numbers that cannot be computed are null.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from core.errors import EXIT_ERROR
from core.evaluation.records import PairOutcome
from core.evaluation.runner import EvalSettings
from core.evaluation.summary import EvaluationSummary
from core.io.atomic import atomic_write_text
from core.metrics import all_metrics
from core.metrics.expression import AU_PRESENCE_THRESHOLD
from core.metrics.inception import INPUT_MODE


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if math.isfinite(v) else None) for k, v in values.items()}


def evaluation_json(summary: EvaluationSummary, outcomes: Sequence[PairOutcome], settings: EvalSettings
                    ) -> dict[str, object]:
    """The whole evaluation as JSON values (module docstring)."""
    editors = []
    for e in summary.editors:
        distances = [r.scores.identity_distance for r in e.records if r.scores.identity_distance is not None]
        rate = None
        if distances and summary.same_person_threshold is not None:
            rate = sum(d < summary.same_person_threshold for d in distances) / len(distances)
        editors.append({"editor": e.editor.name, "evaluated": e.evaluated, "failed": e.failed,
                        "skipped": e.skipped, "medians": _finite(e.medians), "means": _finite(e.means),
                        "set_metrics": _finite(e.set_values), "is_std": e.is_std, "same_person_rate": rate})
    pair_text = lambda o: {"source": str(o.pair.source), "reference": o.pair.reference_text,  # noqa: E731
                           "editor": o.editor.name}
    return {
        "settings": {"alpha": settings.alpha, "crop_size": settings.crop_size,
                     "same_pose_deg": settings.same_pose_deg, "au_presence_threshold": AU_PRESENCE_THRESHOLD,
                     "fid_input_mode": INPUT_MODE, "real_faces": summary.real_faces},
        "judges": {"identity": summary.identity_judge, "emotion": summary.emotion_judge,
                   "csim": summary.csim_judge, "same_person_threshold": summary.same_person_threshold,
                   "landmarks": summary.landmark_judge,
                   "aus": "the project's 20-AU mesh fit (core.geometry.au.fit)"},
        "editors": editors,
        "pairs": [o.record.to_json() for o in outcomes if o.record is not None],
        "failures": [pair_text(o) | {"error": str(o.error),
                                     "exit_code": getattr(o.error, "exit_code", EXIT_ERROR)}
                     for o in outcomes if o.error is not None],
        "skipped": [pair_text(o) | {"reason": o.skipped} for o in outcomes if o.skipped is not None],
        "unavailable": [{"metric": u.key, "label": u.label, "reason": u.reason} for u in summary.unavailable],
        "metric_labels": {m.key: summary.label(m.key) for m in all_metrics()},
    }


def write_json(path: str | os.PathLike[str], data: dict[str, object]) -> Path:
    """Write ``data`` as indented strict JSON, atomically; returns the path."""
    path = Path(path)
    if path.parent != Path():
        path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n")
