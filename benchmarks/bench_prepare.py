"""``gafet prepare`` cost per image, and the projected time for an FFHQ-sized folder (70,000 images).

Inputs mimic FFHQ: 1024 x 1024 PNG portraits, made in a temporary folder from the test media's
lab portraits and single_face.jpg (upscaled bicubically, every other one mirrored so no two are
duplicates; nothing is kept). Prints

1. the median CPU time per image of each step at one torch thread (decode, detect + mesh,
   align, fit, neutralise with the warp editor), in the order ``gafet prepare`` runs them, at
   the crop size ``--size`` (work size max(size, 256)). CPU time of a one-thread process is what
   one free core needs, and is robust to other load on a shared machine;
2. end-to-end ``prepare()`` in this process (1 worker): CPU and wall seconds per image (what the
   command's summary reports; hashing, shards and the report included) and images per second of
   wall time, start-up excluded;
3. the same with ``--workers N`` processes (spawned; wall time from the first to the last
   committed image), and its speed-up over 1 worker measured in this run;
4. the projected time for 70,000 images at the measured CPU cost per image with 1, 8, 16 and 32
   worker processes on free cores (linear scaling assumed: workers share nothing but the disk).

    .venv/bin/python benchmarks/bench_prepare.py [--images 8] [--size 256] [--workers 2] [--detect-side 1920]

Asserts nothing. On a shared machine the figures include the other processes' load (see the
load average printed first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

FFHQ = 70_000
PORTRAITS = ("anger.jpg", "happy.jpg", "surprise.jpg", "disgust.jpg", "single_face.jpg")


def make_inputs(folder: Path, count: int) -> list[Path]:
    from core.assets import asset_path
    from core.io import load_photo

    paths = []
    for i in range(count):
        rgb = np.asarray(load_photo(asset_path("test-media", PORTRAITS[i % len(PORTRAITS)])).rgb)
        big = cv2.resize(rgb, (1024, 1024), interpolation=cv2.INTER_CUBIC)
        if (i // len(PORTRAITS)) % 2:
            big = big[:, ::-1]
        path = folder / f"{i:05d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        paths.append(path)
    return paths


def stage_times(paths: list[Path], size: int, detect_side: int) -> dict[str, float]:
    """Median CPU ms per image of each step, as training.data.extract runs them."""
    from core.editing.pipeline import PreparedSource
    from core.face.align import align_face
    from core.io import load_photo
    from training.data.extract import Extractor
    from training.data.records import ExtractConfig

    ex = Extractor(ExtractConfig(size=size, neutraliser="warp", max_upscale=2.0, detect_side=detect_side))
    pipe = ex.pipeline
    steps: dict[str, list[float]] = {k: [] for k in ("decode", "detect+mesh", "align", "fit", "neutralise")}
    for path in [paths[0], *paths]:  # the first image warms up
        t0 = time.process_time()
        photo = load_photo(path)
        t1 = time.process_time()
        face = ex.analyzer.analyze(np.asarray(photo.rgb))[0]
        t2 = time.process_time()
        aligned = align_face(np.asarray(photo.rgb), face.landmarks, pipe.align_config)
        t3 = time.process_time()
        fit = pipe.geometry.fit(aligned.landmarks)
        t4 = time.process_time()
        src = PreparedSource(photo=photo, faces=(face,), face_index=0, aligned=aligned, params=fit.params,
                             fit=fit, vertices=aligned.landmarks, key=("bench", str(path), t0))
        ex.neutraliser.neutralise(src)
        t5 = time.process_time()
        pipe.forget_sources()
        for k, a, b in zip(steps, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5), strict=True):
            steps[k].append(1e3 * (b - a))
    return {k: statistics.median(v[1:]) for k, v in steps.items()}


def end_to_end(folder: Path, size: int, workers: int, detect_side: int) -> tuple[float, float, float, int]:
    """(worker CPU s per image, worker wall s per image, images per wall second after start-up, images)."""
    from training.data.cache import CacheSettings
    from training.data.prepare import Finished, UnitFinished, prepare

    with tempfile.TemporaryDirectory() as out:
        first = last = None
        summary = None
        for event in prepare([folder], Path(out) / "cache", CacheSettings(size=size, detect_side=detect_side),
                             workers=workers):
            if isinstance(event, UnitFinished):
                last = time.perf_counter()
                first = first or last
            elif isinstance(event, Finished):
                summary = event.summary
    assert summary is not None and first is not None and last is not None
    steady = (summary.images_run - 1) / (last - first) if last > first else float("nan")
    return summary.cpu_seconds_per_image, summary.seconds_per_image, steady, summary.images_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=256, choices=(64, 128, 256, 512))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--detect-side", type=int, default=1920, help="gafet prepare --detect-side")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from core.assets import ensure

    ensure(["test-media", "face-detector", "face-mesh", "au-face-model"])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.images} FFHQ-like 1024² "
          f"PNGs; crops {args.size}², work size {max(args.size, 256)}², detection side {args.detect_side}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ffhq-like"
        folder.mkdir()
        paths = make_inputs(folder, args.images)
        stages = stage_times(paths, args.size, args.detect_side)
        total = sum(stages.values())
        print("\n1. median CPU ms per image and step (1 thread):")
        for k, v in stages.items():
            print(f"   {k:<12} {v:8.1f} ms  {100 * v / total:5.1f} %")
        print(f"   {'total':<12} {total:8.1f} ms")

        per1, wall1, rate1, n1 = end_to_end(folder, args.size, 1, args.detect_side)
        print(f"\n2. prepare(), 1 worker: {per1:.3f} s CPU ({wall1:.3f} s wall) per image, {rate1:.2f} "
              f"images/s after start-up ({n1} images)")
        rate_n = float("nan")
        if args.workers > 1:
            per_n, wall_n, rate_n, _ = end_to_end(folder, args.size, args.workers, args.detect_side)
            print(f"3. prepare(), {args.workers} workers: {per_n:.3f} s CPU ({wall_n:.3f} s wall) per image "
                  f"and worker, {rate_n:.2f} images/s; speed-up {rate_n / rate1:.2f}x over 1 worker "
                  "(measured now)")
    print(f"\n4. projected for {FFHQ:,} images at {per1:.3f} s CPU per image, one worker per free core:")
    for w in (1, 8, 16, 32):
        print(f"   {w:>2} worker(s): {FFHQ * per1 / w / 3600:6.2f} h")


if __name__ == "__main__":
    main()
