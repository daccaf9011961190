"""Edit pipeline benchmark: slider latency, time to first result, peak memory.

The source is a real portrait (``single_face.jpg``) upscaled to a 12 MP photo (4000 x 3000; the
face then spans ~3x the crop, so the detail-preserving paste-back runs); the reference is
``surprise.jpg``. Measured, with the warp editor and a 512 px crop:

* time to first result: load (from PNG on disk) + prepare_source (detect, mesh, align, fit) +
  prepare_reference + the first render at full resolution (the networks are loaded before, as
  the Studio does at start-up; that time is printed separately);
* slider-to-result latency: ``render()`` over ``--steps`` intensities in [0.05, 1.5] (median and
  p95, full resolution and crop only), with the per-step breakdown from ``EditResult.timings``;
* the live slider path (``core.editing.fast_path``, what the Studio shows while a slider moves):
  the same intensities drawn at a 1280 x 800 view's resolution, with the last exact render's
  made content carried over (wall and CPU time per picture);
* peak memory: Python allocations (tracemalloc, over the whole run) and the process's peak
  resident set (``ru_maxrss``).

    .venv/bin/python benchmarks/bench_edit.py [--steps 20] [--threads 2] [--crop-size 512]

Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import torch

from core import assets
from core.editing.fast_path import LiveAnchor
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, Timings
from core.editing.warp.editor import WarpEditor
from core.io import load_photo, save_image


def make_photo(folder: Path) -> Path:
    """single_face.jpg upscaled to 4000 x 3000 (12 MP), written as PNG."""
    small = load_photo(assets.asset_path("test-media", "single_face.jpg")).rgb
    big = cv2.resize(small, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, 0, 0, 500, 500, cv2.BORDER_REFLECT_101)
    return save_image(folder / "portrait_12mp.png", np.ascontiguousarray(big))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def row(name: str, values: list[float]) -> str:
    return (f"  {name:<26} median {statistics.median(values):8.1f} ms   p95 {percentile(values, 95):8.1f} ms"
            f"   min {min(values):8.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="intensities swept (default 20)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--crop-size", type=int, default=512)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    assets.ensure(["test-media", "face-detector", "face-mesh", "au-face-model"])

    with tempfile.TemporaryDirectory() as tmp:
        path = make_photo(Path(tmp))
        ref_path = assets.asset_path("test-media", "surprise.jpg")
        tracemalloc.start()
        tm = time.perf_counter()
        pipe = EditPipeline(editor=WarpEditor(), crop_size=args.crop_size)  # loads the networks
        t0 = time.perf_counter()
        photo = load_photo(path)
        t1 = time.perf_counter()
        source = pipe.prepare_source(photo)
        t2 = time.perf_counter()
        reference = pipe.prepare_reference(load_photo(ref_path))
        t3 = time.perf_counter()
        first = pipe.render(source, reference, EditParams(alpha=1.0))
        t4 = time.perf_counter()

        alphas = np.linspace(0.05, 1.5, args.steps)
        steps: list[Timings] = []
        full_ms, crop_ms = [], []
        for a in alphas:
            s = time.perf_counter()
            steps.append(pipe.render(source, reference, EditParams(alpha=float(a))).timings)
            full_ms.append((time.perf_counter() - s) * 1e3)
        for a in alphas:
            s = time.perf_counter()
            pipe.render(source, reference, EditParams(alpha=float(a)), full_resolution=False)
            crop_ms.append((time.perf_counter() - s) * 1e3)
        view = pipe.live_view(source, (1280, 800))
        anchor = LiveAnchor(crop=first.crop, replaced=first.crop_replaced, target=first.target_vertices)
        live_ms, live_cpu = [], []
        for a in alphas:
            s, c = time.perf_counter(), time.thread_time()
            view.render(pipe.live_target(source, reference, EditParams(alpha=float(a))), anchor, bgra=True)
            live_ms.append((time.perf_counter() - s) * 1e3)
            live_cpu.append((time.thread_time() - c) * 1e3)
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mb = rss / 2**20 if sys.platform == "darwin" else rss / 1024
    h, w = photo.rgb.shape[:2]
    print(f"edit pipeline benchmark: {w}x{h} photo ({w * h / 1e6:.0f} MP), crop {args.crop_size}, "
          f"{torch.get_num_threads()} torch threads, warp editor, face scale {source.aligned.scale:.2f}")
    print(f"load the face networks and model (once per process): {1e3 * (t0 - tm):.0f} ms")
    print("time to first result")
    print(f"  load photo (PNG)            {1e3 * (t1 - t0):8.1f} ms")
    print(f"  prepare_source              {1e3 * (t2 - t1):8.1f} ms")
    print(f"  prepare_reference           {1e3 * (t3 - t2):8.1f} ms")
    print(f"  first render (full res)     {1e3 * (t4 - t3):8.1f} ms  {first.timings}")
    print(f"  total                       {1e3 * (t4 - t0):8.1f} ms")
    print(f"slider-to-result latency over {args.steps} intensities in [0.05, 1.5]")
    print(row("render, full resolution", full_ms))
    print(row("render, crop only", crop_ms))
    for field in ("interpolate_ms", "render_ms", "editor_ms", "paste_ms"):
        print(row(f"  of which {field[:-3]}", [getattr(t, field) for t in steps]))
    w_, h_ = view.display_size
    print(row(f"live path, {w_}x{h_} view", live_ms))
    print(row("  its CPU time", live_cpu))
    print("peak memory")
    print(f"  Python allocations (tracemalloc)  {py_peak / 2**20:8.1f} MiB")
    print(f"  process peak RSS (ru_maxrss)      {rss_mb:8.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
