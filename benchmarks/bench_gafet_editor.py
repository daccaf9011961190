"""GaFET editor benchmark: what one slider move costs through a GaFET checkpoint vs the warp editor.

Two real photos (``single_face.jpg`` as the source, ``surprise.jpg`` as the reference) are
prepared once at ``--crop-size`` (default 512); then, per editor, the first render (a GaFET
editor encodes the source and the reference there) and ``--steps`` slider moves (intensities in
[0.05, 1.5]) through :meth:`EditPipeline.render` at full resolution, as the Studio renders them.
The editors: the built-in warp editor (the baseline, in the same run) and :class:`GafetEditor`
with randomly initialised checkpoints of ``--presets`` (default tiny-64 and gafet-256) written to
a temporary folder and loaded through the model registry, on the CPU (or ``--device``).

Columns: load = reading and checking the checkpoint; first = the first render; render = the
median slider move (whole ``render``); editor = its median ``Timings.editor_ms``; x warp = the
ratio to the warp editor's medians; encodes = the engine's source / reference encodes over the
whole run (1 / 1 when the caches work: a slider move only decodes).

    .venv/bin/python benchmarks/bench_gafet_editor.py [--steps 10] [--threads 2] [--crop-size 512]
                                                      [--presets tiny-64,gafet-256] [--device cpu]

Prints a table; asserts nothing. Untrained weights: the pictures are meaningless, the costs real.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core import assets
from core.editing.gafet import registry as model_registry
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedReference, PreparedSource
from core.editing.warp.editor import WarpEditor
from core.io import load_photo
from core.nets.checkpoint import save_checkpoint
from core.nets.config import preset
from core.nets.gafet import GaFET


@dataclass(frozen=True)
class Row:
    name: str
    load_ms: float | None
    first_ms: float
    render_ms: list[float]
    editor_ms: list[float]
    encodes: str


def sweep(pipe: EditPipeline, source: PreparedSource, reference: PreparedReference, steps: int,
          ) -> tuple[float, list[float], list[float]]:
    """(first render ms, per-move render ms, per-move editor ms) with ``pipe``'s editor."""
    t0 = time.perf_counter()
    pipe.render(source, reference, EditParams(alpha=1.0))
    first = (time.perf_counter() - t0) * 1e3
    render, editor = [], []
    for alpha in np.linspace(0.05, 1.5, steps):
        t = time.perf_counter()
        result = pipe.render(source, reference, EditParams(alpha=float(alpha)))
        render.append((time.perf_counter() - t) * 1e3)
        editor.append(result.timings.editor_ms)
    return first, render, editor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="slider moves per editor (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--crop-size", type=int, default=512)
    parser.add_argument("--presets", default="tiny-64,gafet-256", help="GaFET configs, comma-separated")
    parser.add_argument("--device", default="cpu", help="where the GaFET models run (default cpu)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    assets.ensure(["test-media", "face-detector", "face-mesh", "au-face-model"])

    pipe = EditPipeline(editor=WarpEditor(), crop_size=args.crop_size)
    source = pipe.prepare_source(load_photo(assets.asset_path("test-media", "single_face.jpg")))
    reference = pipe.prepare_reference(load_photo(assets.asset_path("test-media", "surprise.jpg")))

    first, render, editor = sweep(pipe, source, reference, args.steps)
    rows = [Row(pipe.editor.name, None, first, render, editor, "-")]
    with tempfile.TemporaryDirectory() as tmp:
        for name in filter(None, (p.strip() for p in args.presets.split(","))):
            torch.manual_seed(0)
            path = save_checkpoint(Path(tmp) / f"{name}.safetensors", GaFET(config=preset(name)))
            t0 = time.perf_counter()
            gafet = model_registry.load_editor(path, device=args.device)
            load_ms = (time.perf_counter() - t0) * 1e3
            moved = copy.copy(pipe)  # what the Studio does: the same caches, another editor
            moved.editor = gafet
            first, render, editor = sweep(moved, source, reference, args.steps)
            stats = gafet.stats
            rows.append(Row(f"{gafet.name}, r={gafet.resolution}", load_ms, first, render, editor,
                            f"{stats.source_encodes} / {stats.reference_encodes}"))
            model_registry.clear_cache()
            path.unlink()

    h, w = source.photo.rgb.shape[:2]
    print(f"GaFET editor benchmark: {w}x{h} source, crop {args.crop_size}, {torch.get_num_threads()} torch "
          f"threads, GaFET on {args.device}, {args.steps} slider moves (full resolution), medians")
    base_render = statistics.median(rows[0].render_ms)
    base_editor = statistics.median(rows[0].editor_ms)
    header = (f"  {'editor':<38}{'load':>9}{'first':>10}{'render':>10}{'x warp':>8}{'editor':>10}"
              f"{'x warp':>8}{'encodes':>10}")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in rows:
        med_render, med_editor = statistics.median(r.render_ms), statistics.median(r.editor_ms)
        load = f"{r.load_ms:7.0f}ms" if r.load_ms is not None else f"{'-':>9}"
        print(f"  {r.name:<38}{load}{r.first_ms:8.0f}ms{med_render:8.1f}ms{med_render / base_render:7.1f}x"
              f"{med_editor:8.1f}ms{med_editor / base_editor:7.1f}x{r.encodes:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
