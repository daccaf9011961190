"""The evaluation's text tables, in the paper's format: one row per editor, one column per
metric with its direction (↑ higher is better, ↓ lower), one table per metric group.

Cells are the mean over the pairs (the paper's statistic) unless ``statistic="median"``; set
metrics (FID, KID, IS, FD-dlib) have one value per editor. A metric left out shows "n/a" with a
footnote giving the reason (which file is missing and how to import it); "–" means no pair
had a value. Paired metrics are shown only when some pair has a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.evaluation.summary import EditorSummary, EvaluationSummary
from core.metrics import Metric, all_metrics, metric
from core.metrics.registry import MetricGroup

GROUP_TITLES: dict[MetricGroup, str] = {
    "identity": "Identity (output vs source)",
    "expression": "Expression (output vs reference)",
    "emotion": "Emotion judge (output vs reference)",
    "geometry": "Face geometry (dlib-68: share of the source→reference gap closed; photo references)",
    "detail": "Detail and stability (output vs source)",
    "distribution": "Distribution (outputs vs real faces)",
    "paired": "Paired (self-reenactment: output vs target)",
}
TABLE3_KEYS = ("fid", "csim", "aed", "au_h")  # the paper's Table 3 (ablations) columns
_DECIMALS = {"fid": 2, "kid": 4, "is": 2, "fd_dlib": 3, "psnr": 2, "expression_agrees": 2,
             "expression_agrees_clear": 2, "brow_gap_closure": 2, "eye_gap_closure": 2,
             "mouth_gap_closure": 2, "mouth_width_gap_closure": 2, "face_box_mad": 2}


@dataclass(frozen=True)
class Column:
    metric: Metric
    unavailable: bool


def format_value(key: str, value: float | None) -> str:
    """A cell: the value with the metric's usual decimals, "∞" for an infinite PSNR, "–" for none."""
    if value is None:
        return "–"
    if value == float("inf"):
        return "∞"
    return f"{value:.{_DECIMALS.get(key, 3)}f}"


def _render(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    rule = "-" * len(line(header))
    return "\n".join([title, rule, line(header), rule, *(line(r) for r in rows), rule])


def _columns(summary: EvaluationSummary, keys: Sequence[str], requested: frozenset[str]) -> list[Column]:
    gone = {u.key for u in summary.unavailable}
    cols = []
    for key in keys:
        if requested and key not in requested:
            continue
        has_value = any(e.value(key) is not None for e in summary.editors)
        if has_value or key in gone or metric(key).group != "paired":  # paired: only with targets
            cols.append(Column(metric(key), key in gone and not has_value))
    return cols


def _cell(row: EditorSummary, col: Column, statistic: str, baseline: EditorSummary | None) -> str:
    if col.unavailable:
        return "n/a*"
    key = col.metric.key
    text = format_value(key, row.value(key, statistic))
    if baseline is not None and baseline is not row:
        text += f" ({format_value(key, baseline.value(key, statistic))})"
    return text


def format_table(title: str, summary: EvaluationSummary, keys: Sequence[str], *, statistic: str = "mean",
                 requested: frozenset[str] = frozenset(), labels: Sequence[str] | None = None,
                 baseline: str | None = None) -> str | None:
    """One table of ``keys`` (None when it would have no column). labels: row names (default:
    each editor's name). baseline: an editor's name whose value is shown in brackets beside
    every other editor's (the do-nothing context)."""
    cols = _columns(summary, keys, requested)
    if not cols:
        return None
    base = next((e for e in summary.editors if e.editor.name == baseline), None)
    header = ["editor", "n", *(f"{summary.label(c.metric.key)} {c.metric.arrow}" for c in cols)]
    rows = []
    for i, e in enumerate(summary.editors):
        name = labels[i] if labels is not None else e.editor.name
        rows.append([name, str(e.evaluated), *(_cell(e, c, statistic, base) for c in cols)])
    return _render(title, header, rows)


def format_tables(summary: EvaluationSummary, *, statistic: str = "mean",
                  requested: frozenset[str] = frozenset(), baseline: str | None = None) -> str:
    """Every group's table, a line on what the numbers were measured with, and the footnotes."""
    parts = [_measured_with(summary, statistic, baseline)]
    for group, title in GROUP_TITLES.items():
        keys = [m.key for m in all_metrics() if m.group == group]
        table = format_table(title, summary, keys, statistic=statistic, requested=requested,
                             baseline=baseline)
        if table is not None:
            parts.append(table)
    parts.append(footnotes(summary))
    return "\n\n".join(p for p in parts if p)


def format_ablations(summary: EvaluationSummary, labels: Sequence[str], *,
                     requested: frozenset[str] = frozenset()) -> str:
    """The paper's Table 3 layout (FID, CSIM, AED, AU-H) with one row per checkpoint, named by
    the switches its config turns off (``labels``, one per editor of ``summary``)."""
    table = format_table("Ablations (Table 3 layout)", summary, TABLE3_KEYS, requested=requested,
                         labels=labels)
    return "\n\n".join(p for p in (table, footnotes(summary)) if p)


def _measured_with(summary: EvaluationSummary, statistic: str, baseline: str | None) -> str:
    judges = [f"identity: {summary.identity_judge or 'none'}", f"emotion: {summary.emotion_judge or 'none'}",
              "AUs: the project's mesh fit"]
    if summary.csim_judge is not None and summary.csim_judge != summary.identity_judge:
        judges.insert(1, f"CSIM: {summary.csim_judge}")
    judges.insert(-1, f"landmarks: {summary.landmark_judge or 'none'}")
    text = (f"Cells: {statistic} over the evaluated pairs (n); set metrics over all of an editor's outputs "
            f"against {summary.real_faces} real faces. Judges: {'; '.join(judges)}.")
    if baseline is not None:
        text += f" In brackets: the '{baseline}' editor's value (doing nothing)."
    return text


def footnotes(summary: EvaluationSummary) -> str:
    """One "* LABELS: reason" line per reason metrics were left out for (empty when none were)."""
    reasons: dict[str, list[str]] = {}
    for u in summary.unavailable:
        reasons.setdefault(u.reason, []).append(u.label)
    return "\n".join(f"* {', '.join(labels)}: {reason[:1].upper()}{reason[1:]}"
                     for reason, labels in reasons.items())
