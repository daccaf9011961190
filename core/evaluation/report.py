"""The evaluation as one self-contained HTML page (``gafet evaluate --report DIR``).

``DIR/index.html`` holds the tables, the contact sheets (source | reference | each editor's
output, as the judges' aligned face crops) and a histogram of the identity distances, with every
picture inlined as a base64 PNG: the page can be mailed or moved on its own. People look at the
pictures first; the numbers are below them.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from core.evaluation.pairs import EvalPair
from core.evaluation.pictures import SheetRow, contact_sheet, histogram
from core.evaluation.records import PairOutcome
from core.evaluation.summary import EvaluationSummary
from core.evaluation.views import FaceView
from core.io.atomic import atomic_write_text

PairViews = dict[EvalPair, tuple[FaceView, FaceView | None]]  # pair -> (source view, reference view)
SHEET_ROWS = 8  # pairs per contact-sheet image
MAX_PAIRS = 64  # pairs shown (the JSON has them all)


def png_data_uri(image: np.ndarray) -> str:
    """An (H, W, 3) uint8 RGB image as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def sheet_rows(outcomes: Sequence[PairOutcome], pair_views: PairViews,
               editors: Sequence[str]) -> list[SheetRow]:
    """One :class:`SheetRow` per pair (in order of first appearance), at most :data:`MAX_PAIRS`."""
    by_pair: dict[EvalPair, dict[str, PairOutcome]] = {}
    for o in outcomes:
        by_pair.setdefault(o.pair, {})[o.editor.name] = o
    rows = []
    for pair, done in list(by_pair.items())[:MAX_PAIRS]:
        views = pair_views.get(pair)
        tiles: list[np.ndarray | str] = [views[0].crop if views else "source failed"]
        if pair.preset is not None:
            tiles.append(f"preset: {pair.preset}")
        else:
            tiles.append(views[1].crop if views and views[1] is not None else "not judged")
        for name in editors:
            o = done.get(name)
            if o is None or o.record is None:
                tiles.append("skipped" if o is not None and o.skipped else "failed")
            else:
                tiles.append(o.record.output.crop)
        rows.append(SheetRow(label=pair.label, tiles=tuple(tiles)))
    return rows


def write_report(folder: str | os.PathLike[str], *, summary: EvaluationSummary,
                 outcomes: Sequence[PairOutcome], pair_views: PairViews, tables: str, title: str) -> Path:
    """Write ``folder/index.html`` (atomically; the folder is created) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [e.editor.name for e in summary.editors]
    rows = sheet_rows(outcomes, pair_views, names)
    sheets = [contact_sheet(["source", "reference", *names], rows[i:i + SHEET_ROWS])
              for i in range(0, len(rows), SHEET_ROWS)]
    distances = {e.editor.name: [r.scores.identity_distance for r in e.records
                                 if r.scores.identity_distance is not None] for e in summary.editors}
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if any(distances.values()):
        hist = histogram(distances, threshold=summary.same_person_threshold)
        parts += ["<h2>Identity distance of each output to its source</h2>",
                  f"<p>{html.escape(summary.identity_judge or '')}: lower is closer; the dashed line is the "
                  "judge's same-person threshold.</p>",
                  f'<img alt="identity distance histogram" src="{png_data_uri(hist)}">']
    parts.append("<h2>Contact sheets</h2><p>Source | reference | each editor's output, as the aligned face "
                 "crops the judges saw.</p>")
    parts += [f'<p><img alt="contact sheet {i + 1}" src="{png_data_uri(s)}"></p>'
              for i, s in enumerate(sheets)]
    if len(rows) < len({o.pair for o in outcomes}):
        parts.append(f"<p>The first {len(rows)} pairs are shown; the JSON output lists every pair.</p>")
    parts += ["<h2>Tables</h2>", f"<pre>{html.escape(tables)}</pre>"]
    failures = [o for o in outcomes if o.error is not None]
    if failures:
        items = "".join(f"<li>{html.escape(o.pair.label)} ({html.escape(o.editor.name)}): "
                        f"{html.escape(str(o.error))}</li>" for o in failures)
        parts.append(f"<h2>Failed pairs</h2><ul>{items}</ul>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "img{max-width:100%}pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    return atomic_write_text(folder / "index.html", page)
