"""Quality benchmark (issue 10's grid): ``gafet evaluate`` on every portrait x every expressive
photo, video frame and preset of the test media, with the issue's figures per alpha.

Grid:

* sources: ``single_face.jpg``, the five people of ``multi_face.jpg``, and video frames
  (:data:`SOURCE_FRAMES`: ``neutral_to_smile.mp4`` 0, neutral, and 70, a smile;
  ``sad_to_laugh.mp4`` 0, sad);
* references: the expressive photos (``happy``, ``surprise``, ``anger``, ``disgust``), expressive
  video frames (:data:`REFERENCE_FRAMES`: a laugh and a cry of ``sad_to_laugh.mp4``, a smile of
  ``neutral_to_smile.mp4``) and every built-in preset;
* alpha 1.0 and 1.5; editors ``warp`` against the baselines ``identity`` (doing nothing) and
  ``mouth-paste`` (the reference's mouth pasted on; photo references only).

Video frames are extracted once, losslessly, into ``<data home>/cache/bench_quality/frames``.
For each alpha it runs ``gafet evaluate --median --baseline identity`` (its tables), then prints
per editor, from the per-pair JSON:

* expression agreement: all pairs, and issue 10's subset (the reference's top class has
  p >= 0.5, or is a preset's, and the source's top class differs), also split into photo / frame
  references and presets (the issue's target: >= 70 % at alpha 1);
* the median share of the source -> reference gap closed in dlib-68 geometry per measure (brow
  height, eye opening, mouth opening, mouth width; photo and frame references whose gap is above
  the judge's noise; target >= 0.6 for the first three), with the number of pairs;
* the dlib identity distance to the source, median and max (targets <= 0.30 and <= 0.45);
* the face-region detail ratio, median [min, max] (target 0.85-1.15), and the face-box mean
  absolute difference; the ``neutral`` preset on the neutral frames (target < 1.0).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_quality.py [--quick] [--alphas 1.0 1.5]
        [--out DIR] [--threads 1] [--no-cache]

``--quick``: 2 sources x 4 references (8 pairs) at alpha 1, for iterating. ``--out`` keeps each
alpha's JSON and HTML report (default: a temporary folder); results are cached in
``<data home>/cache/evaluate`` unless ``--no-cache``. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core import assets
from core.geometry.presets import BUILTIN_PRESETS
from core.io.atomic import atomic_path
from core.io.video import iter_frames
from core.metrics.emotion import CLEAR_REFERENCE_P
from gafet_studio.cli.main import main as gafet

PORTRAITS = (("single_face.jpg", 0), *(("multi_face.jpg", i) for i in range(5)))
SOURCE_FRAMES = (("neutral_to_smile.mp4", 0), ("neutral_to_smile.mp4", 70), ("sad_to_laugh.mp4", 0))
EXPRESSIVE = ("happy.jpg", "surprise.jpg", "anger.jpg", "disgust.jpg")
REFERENCE_FRAMES = (("sad_to_laugh.mp4", 300), ("sad_to_laugh.mp4", 40), ("neutral_to_smile.mp4", 45))
NEUTRAL_SOURCES = ("neutral_to_smile_f000000.png",)  # the one neutral source (frame 70 is a smile)
QUICK_SOURCES = (("single_face.jpg", 0),)
QUICK_SOURCE_FRAMES = (("neutral_to_smile.mp4", 0),)
QUICK_REFERENCES = ("surprise.jpg", "anger.jpg")
QUICK_REFERENCE_FRAMES = (("sad_to_laugh.mp4", 300),)
QUICK_PRESETS = ("sad",)
ALPHAS = (1.0, 1.5)
EDITORS = ("warp", "identity", "mouth-paste")
GAPS = (("brow_gap_closure", "brow"), ("eye_gap_closure", "eye"), ("mouth_gap_closure", "mouth"),
        ("mouth_width_gap_closure", "width"))


def media(name: str) -> Path:
    return assets.asset_path("test-media", name)


def frame_file(video: str, index: int, folder: Path) -> Path:
    """Frame ``index`` of a test video as a PNG in ``folder`` (extracted once)."""
    path = folder / f"{Path(video).stem}_f{index:06d}.png"
    if not path.is_file():
        frame = next(iter_frames(media(video), start=index, max_frames=1))
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")
    return path


def write_grid(path: Path, frames_dir: Path, *, quick: bool) -> int:
    """The pairs CSV (source, reference, source_face); returns the number of pairs."""
    portraits = QUICK_SOURCES if quick else PORTRAITS
    source_frames = QUICK_SOURCE_FRAMES if quick else SOURCE_FRAMES
    sources = [(str(media(n)), face) for n, face in portraits]
    sources += [(str(frame_file(v, i, frames_dir)), 0) for v, i in source_frames]
    refs = [str(media(n)) for n in (QUICK_REFERENCES if quick else EXPRESSIVE)]
    ref_frames = QUICK_REFERENCE_FRAMES if quick else REFERENCE_FRAMES
    refs += [str(frame_file(v, i, frames_dir)) for v, i in ref_frames]
    refs += [f"preset:{p}" for p in (QUICK_PRESETS if quick else BUILTIN_PRESETS)]
    rows = [f"{src},{ref},{face}" for src, face in sources for ref in refs]
    path.write_text("source,reference,source_face\n" + "\n".join(rows) + "\n")
    return len(rows)


def _top(probs: dict[str, float] | None) -> tuple[str, float] | None:
    if not probs:
        return None
    name = max(probs, key=probs.__getitem__)
    return name, probs[name]


def _rate(values: Sequence[bool]) -> str:
    return "–" if not values else f"{np.mean(values):.2f} ({sum(values)}/{len(values)})"


def _median(values: Sequence[float]) -> str:
    return "–" if not values else f"{np.median(values):.2f} (n={len(values)})"


def editor_figures(rows: list[dict]) -> dict[str, str]:
    """One editor's figures at one alpha from its per-pair JSON rows."""
    clear = [r for r in rows if r.get("expression_agrees_clear") is not None]
    photo = [r for r in clear if not r["reference"].startswith("preset:")]
    preset = [r for r in clear if r["reference"].startswith("preset:")]
    ids = [r["identity_distance"] for r in rows if r.get("identity_distance") is not None]
    detail = [r["detail_ratio"] for r in rows if r.get("detail_ratio") is not None]
    mad = [r["face_box_mad"] for r in rows if r.get("face_box_mad") is not None]
    neutral = [r["face_box_mad"] for r in rows if r["reference"] == "preset:neutral"
               and Path(r["source"]).name in NEUTRAL_SOURCES and r.get("face_box_mad") is not None]
    out = {
        "n": str(len(rows)),
        "agree (all)": _rate([bool(r["expression_agrees"]) for r in rows
                              if r.get("expression_agrees") is not None]),
        "agree (subset)": _rate([bool(r["expression_agrees_clear"]) for r in clear]),
        "  photo/frame refs": _rate([bool(r["expression_agrees_clear"]) for r in photo]),
        "  presets": _rate([bool(r["expression_agrees_clear"]) for r in preset]),
    }
    for key, name in GAPS:
        out[f"gap closed: {name}"] = _median([r[key] for r in rows if r.get(key) is not None])
    out["ID dist. median / max"] = "–" if not ids else f"{np.median(ids):.3f} / {np.max(ids):.3f}"
    out["detail ratio median [min, max]"] = (
        "–" if not detail else f"{np.median(detail):.3f} [{np.min(detail):.3f}, {np.max(detail):.3f}]")
    out["face-box MAD median"] = "–" if not mad else f"{np.median(mad):.2f}"
    out["neutral preset, neutral face: MAD"] = "–" if not neutral else " ".join(f"{v:.2f}" for v in neutral)
    return out


def summary_table(results: dict[float, dict]) -> str:
    """One column per (alpha, editor), one row per figure."""
    columns, figures = [], []
    for alpha, data in results.items():
        for editor in EDITORS:
            rows = [r for r in data["pairs"] if r["editor"] == editor]
            if rows:
                columns.append(f"{editor} @{alpha:g}")
                figures.append(editor_figures(rows))
    names = list(figures[0]) if figures else []
    table = [["", *columns], *([name, *(f[name] for f in figures)] for name in names)]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths, strict=True)))
    rule = "-" * len(fmt(table[0]))
    return "\n".join([rule, fmt(table[0]), rule, *map(fmt, table[1:]), rule])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 pairs at alpha 1, to iterate with")
    parser.add_argument("--alphas", type=float, nargs="+", default=None, help="default: 1.0 1.5 (quick: 1.0)")
    parser.add_argument("--out", type=Path, default=None, help="keep each alpha's JSON and report here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    assets.ensure(["test-media", "identity-dlib", "emotion-fer"])
    alphas = tuple(args.alphas) if args.alphas else ((1.0,) if args.quick else ALPHAS)
    frames_dir = assets.data_home() / "cache" / "bench_quality" / "frames"
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        n = write_grid(out / "grid.csv", frames_dir, quick=args.quick)
        print(f"grid: {n} pairs ({'quick' if args.quick else 'full'}), editors {', '.join(EDITORS)}, "
              f"alpha {', '.join(map(str, alphas))}\n")
        results = {}
        for alpha in alphas:
            t0 = time.perf_counter()
            cmd = ["evaluate", "--pairs", str(out / "grid.csv"), "--alpha", str(alpha), "--median",
                   "--baseline", "identity", "--json", str(out / f"alpha{alpha:g}.json"),
                   "--report", str(out / f"report_alpha{alpha:g}")]
            cmd += [a for e in EDITORS for a in ("--editor", e)] + (["--no-cache"] if args.no_cache else [])
            print(f"=== alpha {alpha:g} ===")
            code = gafet(cmd)
            print(f"(exit code {code}, {time.perf_counter() - t0:.1f} s)\n")
            results[alpha] = json.loads((out / f"alpha{alpha:g}.json").read_text())
        print(f"Issue 10 figures. Subset: reference top class p >= {CLEAR_REFERENCE_P} (or a preset) and the "
              "source's class differs. Gap closed: median (O-S)/(R-S) in dlib-68 geometry over photo/frame "
              "references whose gap exceeds the judge's noise. The identity editor is doing nothing.")
        print(summary_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
