"""Renderer benchmark: rasterize, normal-map render and backward flow, median wall time.

Meshes: the 468-vertex / 898-triangle MediaPipe canonical face (through the asset manager) and a
FLAME-sized procedural sphere (5,000 vertices / 9,996 triangles; FLAME has 5,023 / 9,976), each
scaled to ~80 % of the image height. Sizes 256^2 and 512^2; CPU, and CUDA when available.

    .venv/bin/python benchmarks/bench_render.py [--runs 15] [--threads N] [--devices cpu,cuda]
                                                [--clock wall|cpu]

Prints a table of medians in ms. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from core.assets import asset_path
from core.render import backward_flow, normal_map, rasterize
from core.render.primitives import model_to_screen, uv_sphere


def _face_model() -> tuple[torch.Tensor, torch.Tensor]:
    verts = torch.load(asset_path("au-face-model", "canonical_face_model.pt"), weights_only=True)
    with open(asset_path("au-face-model", "canonical_face_tessellation.json"), encoding="utf-8") as fh:
        faces = torch.tensor(json.load(fh)["triangles"], dtype=torch.int64)
    return verts, faces


def _scene(model: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, V, 3) source screen verts and a smoothly deformed target (up to ~4 % of the size)."""
    extent = float(model[:, 1].max() - model[:, 1].min())
    scale = 0.8 * size / extent
    source = model_to_screen(model, scale=scale, center=(size / 2, size / 2))[None]
    y = model[:, 1] / extent
    bump = torch.exp(-(((y + 0.25) / 0.15) ** 2))  # lower third moves down
    target = source.clone()
    target[0, :, 1] += 0.04 * size * bump
    return source, target


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def _median_ms(fn: Callable[[], object], runs: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = _clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(_clock() - t0)
    return 1e3 * statistics.median(times)


def _row(device: torch.device, model: torch.Tensor, faces: torch.Tensor, size: int, runs: int) -> list[float]:
    """[covered px, raster, raster+cull, normals, flow] for one mesh, size and device."""
    faces = faces.to(device)
    source, target = (t.to(device) for t in _scene(model, size))
    hw = (size, size)
    covered = float((rasterize(target, faces, hw).pix_to_face >= 0).sum())
    return [
        covered,
        _median_ms(lambda: rasterize(target, faces, hw), runs, device),
        _median_ms(lambda: rasterize(target, faces, hw, cull_backfaces=True), runs, device),
        _median_ms(lambda: normal_map(rasterize(target, faces, hw), faces, target), runs, device),
        _median_ms(lambda: backward_flow(target, source[..., :2], faces, hw), runs, device),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="timed runs per cell (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--devices", default=None, help="e.g. cpu,cuda (default: cpu, + cuda if any)")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall",
        help="wall time, or process CPU time (with --threads 1: the cost of the work on one core, "
        "unaffected by other processes sharing the machine)",
    )
    args = parser.parse_args()
    global _clock
    _clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.devices:
        devices = args.devices.split(",")
    else:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    face_verts, face_faces = _face_model()
    sphere = uv_sphere(rings=52, segments=98)
    meshes = {
        f"face {face_verts.shape[0]}v/{face_faces.shape[0]}f": (face_verts, face_faces),
        f"sphere {sphere.verts.shape[0]}v/{sphere.faces.shape[0]}f": (sphere.verts, sphere.faces),
    }
    print(
        f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, runs {args.runs}, "
        f"median {args.clock} time in ms"
    )
    cols = ("covered", "raster", "r+cull", "normals", "flow")
    header = f"{'device':6} {'mesh':22} {'size':>5} " + " ".join(f"{c:>8}" for c in cols)
    print(header)
    print("-" * len(header))
    for dev_name in devices:
        device = torch.device(dev_name)
        for label, (model, faces) in meshes.items():
            for size in (256, 512):
                covered, *times = _row(device, model, faces, size, args.runs)
                cells = f"{int(covered):>8} " + " ".join(f"{t:>8.1f}" for t in times)
                print(f"{dev_name:6} {label:22} {size:>5} {cells}")
    print("raster: rasterize() (z-buffer + differentiable barycentrics); r+cull: with back-face culling;")
    print("normals: rasterize + normal_map shader; flow: backward_flow() incl. its rasterization and fill.")


if __name__ == "__main__":
    main()
