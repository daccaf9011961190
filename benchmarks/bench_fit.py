"""AU-fit benchmark: time per face of the exact and the differentiable fit, and the AU table.

Meshes come from the project's FaceAnalyzer on the test media (asset manager): the four lab
portraits, single_face.jpg and frames of the two videos. Prints

1. median wall time per face: exact fit (one face at a time; rounds used), person-neutral
   estimate, differentiable fit (batch of 8, forward and forward + backward), and one slider
   move (vertex_alpha + interpolate_vertices);
2. the AU readings per photo (the table of notes/au-fit-check.md) — single photo, and for the
   two videos also relative to the person's neutral estimated from their first frames.

    .venv/bin/python benchmarks/bench_fit.py [--runs 20] [--threads N]

Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

SHOW = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU12", "AU15", "AU17", "AU20", "AU23",
        "AU24", "AU25", "AU26", "AU43")


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t))
    return statistics.median(times)


def _meshes() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    from core.assets import asset_path, ensure
    from core.face.analyzer import FaceAnalyzer
    from core.io import iter_frames, load_photo

    ensure(["test-media", "face-detector", "face-mesh", "au-face-model"])
    fa = FaceAnalyzer()
    photos = {}
    for name in ("surprise", "happy", "anger", "disgust", "single_face"):
        photos[name] = fa.analyze_one(load_photo(asset_path("test-media", f"{name}.jpg")).rgb).landmarks
    videos = {}
    for name, step in (("neutral_to_smile", 6), ("sad_to_laugh", 24)):
        frames = iter_frames(asset_path("test-media", f"{name}.mp4"), step=step)
        videos[name] = np.stack([fa.analyze_one(f).landmarks for f in frames])
    return photos, videos


def _row(label: str, aus: torch.Tensor, names: tuple[str, ...]) -> str:
    return f"{label:<30}" + " ".join(f"{float(aus[names.index(n)]):5.2f}" for n in SHOW)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from core.geometry.au.fit import default_fitter
    from core.geometry.au.fit_torch import DifferentiableAUFit
    from core.geometry.interpolate import interpolate_vertices, vertex_alpha

    photos, videos = _meshes()
    fitter = default_fitter()
    model = fitter.model
    names = model.au_names
    meshes = list(photos.values()) + [videos["neutral_to_smile"][0], videos["sad_to_laugh"][0]]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(meshes)} real meshes")
    per_face = [_median_ms(lambda x=x: fitter.fit(x), args.runs) for x in meshes]
    rounds = [int(fitter.fit(x).rounds[0]) for x in meshes]
    print(f"exact fit (numpy, float64):      {statistics.median(per_face):7.2f} ms/face median "
          f"(min {min(per_face):.2f}, max {max(per_face):.2f}); rounds {min(rounds)}-{max(rounds)}")
    neutral = videos["neutral_to_smile"][:3]
    est = _median_ms(lambda: fitter.estimate_neutral(neutral), args.runs)
    print(f"estimate_neutral (3 frames):     {est:7.2f} ms")
    batch = torch.as_tensor(np.stack((meshes * 2)[:8]), dtype=torch.float32)
    diff_fit = DifferentiableAUFit(model=model)
    fwd = _median_ms(lambda: diff_fit(batch), max(3, args.runs // 4))

    def fwd_bwd() -> None:
        x = batch.clone().requires_grad_()
        diff_fit(x).expression.sum().backward()

    both = _median_ms(fwd_bwd, max(3, args.runs // 4))
    print(f"differentiable fit (torch f32, 12 rounds, batch 8): forward {fwd / 8:7.2f} ms/face, "
          f"forward+backward {both / 8:7.2f} ms/face")
    exact = fitter.fit(batch.double().numpy()).params.expression
    approx = diff_fit(batch).expression
    print(f"  differentiable vs exact AUs: max |Δ| {float((approx - exact).abs().max()):.4f}")
    src = model.vertices_of(fitter.fit(photos["happy"]).params)
    tgt = model.vertices_of(fitter.fit(photos["surprise"]).params)
    slider = _median_ms(lambda: interpolate_vertices(
        src, tgt, vertex_alpha(model, alpha=0.7, region_weights={"mouth": 0.5})), args.runs)
    print(f"slider move (vertex_alpha + interpolate_vertices): {slider:7.3f} ms")

    print("\nAUs (default priors; single photo unless noted)")
    print(f"{'':<30}" + " ".join(f"{n[2:]:>5}" for n in SHOW))
    for name, x in photos.items():
        print(_row(name, fitter.fit(x).params.expression[0], names))
    for name, frames in videos.items():
        first, last = frames[0], frames[-1]
        print(_row(f"{name} first frame", fitter.fit(first).params.expression[0], names))
        print(_row(f"{name} last frame", fitter.fit(last).params.expression[0], names))
        r0 = fitter.estimate_neutral(frames[:2])
        mid = fitter.fit(frames[len(frames) // 3], neutral=r0).params.expression[0]
        print(_row("  rel. to frames 0-1 (mid)", mid, names))
        print(_row("  rel. to frames 0-1 (last)", fitter.fit(last, neutral=r0).params.expression[0], names))


if __name__ == "__main__":
    main()
