"""Quality benchmark: ``gafet evaluate`` on a fixed grid of the real test media.

Grid (issue 9): every portrait as a source (``single_face.jpg`` and the five people of
``multi_face.jpg``), every expressive photo (``happy``, ``surprise``, ``anger``, ``disgust``) and
every built-in preset as a reference, at alpha 1.0 and 1.5, for the warp editor against the two
baselines (``identity``: the source untouched; ``mouth-paste``: the reference's mouth pasted on).
For each alpha it runs ``gafet evaluate --median --baseline identity`` (tables of medians with
the do-nothing value in brackets), then prints one summary of both alphas.

    .venv/bin/python benchmarks/bench_quality.py [--out DIR] [--threads 1] [--no-cache]

``--out`` keeps the JSON and HTML report of each alpha (default: a temporary folder); results
are cached in ``<data home>/cache/evaluate`` unless ``--no-cache``. Prints figures only;
asserts nothing. Reads the test media through the asset manager (``test-media``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from core import assets
from core.geometry.presets import BUILTIN_PRESETS
from gafet_studio.cli.main import main as gafet

PORTRAITS = (("single_face.jpg", 0), *(("multi_face.jpg", i) for i in range(5)))
EXPRESSIVE = ("happy.jpg", "surprise.jpg", "anger.jpg", "disgust.jpg")
ALPHAS = (1.0, 1.5)
EDITORS = ("warp", "identity", "mouth-paste")
SUMMARY = (("csim", "CSIM ↑", "medians"), ("identity_distance", "ID dist. ↓", "medians"),
           ("aed", "AED (mesh AUs) ↓", "medians"), ("au_h", "AU-H (mesh AUs) ↓", "medians"),
           ("ed", "ED (mesh AUs) ↓", "medians"), ("expression_agrees", "Emotion agrees ↑", "means"))


def write_grid(path: Path) -> int:
    """The pairs CSV of the grid; returns the number of pairs."""
    media = lambda name: assets.asset_path("test-media", name)  # noqa: E731
    refs = [str(media(n)) for n in EXPRESSIVE] + [f"preset:{p}" for p in BUILTIN_PRESETS]
    rows = [f"{media(src)},{ref},{face}" for src, face in PORTRAITS for ref in refs]
    path.write_text("source,reference,source_face\n" + "\n".join(rows) + "\n")
    return len(rows)


def summary_table(results: dict[float, dict]) -> str:
    header = ["editor", "alpha", "n", *(label for _, label, _ in SUMMARY)]
    lines = []
    for alpha, data in results.items():
        base = next(e for e in data["editors"] if e["editor"] == "identity")
        for e in data["editors"]:
            cells = [e["editor"], f"{alpha:g}", str(e["evaluated"])]
            for key, _, stat in SUMMARY:
                value, ref = e[stat].get(key), base[stat].get(key)
                text = "–" if value is None else f"{value:.3f}"
                if e is not base and ref is not None:
                    text += f" ({ref:.3f})"
                cells.append(text)
            lines.append(cells)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths, strict=True)))
    rule = "-" * len(fmt(header))
    return "\n".join([rule, fmt(header), rule, *map(fmt, lines), rule])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="keep each alpha's JSON and report here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    assets.ensure(["test-media"])
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        n = write_grid(out / "grid.csv")
        refs = len(EXPRESSIVE) + len(BUILTIN_PRESETS)
        print(f"grid: {len(PORTRAITS)} sources x {refs} references = {n} pairs, "
              f"editors {', '.join(EDITORS)}, alpha {', '.join(map(str, ALPHAS))}\n")
        results = {}
        for alpha in ALPHAS:
            t0 = time.perf_counter()
            cmd = ["evaluate", "--pairs", str(out / "grid.csv"), "--alpha", str(alpha), "--median",
                   "--baseline", "identity", "--json", str(out / f"alpha{alpha:g}.json"),
                   "--report", str(out / f"report_alpha{alpha:g}")]
            cmd += [a for e in EDITORS for a in ("--editor", e)] + (["--no-cache"] if args.no_cache else [])
            print(f"=== alpha {alpha:g} ===")
            code = gafet(cmd)
            print(f"(exit code {code}, {time.perf_counter() - t0:.1f} s)\n")
            results[alpha] = json.loads((out / f"alpha{alpha:g}.json").read_text())
        print("Summary: medians (emotion agreement: rate); "
              "in brackets the identity baseline (doing nothing).")
        print(summary_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
