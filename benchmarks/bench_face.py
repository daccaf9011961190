"""Face pipeline benchmark: detection + 468-point mesh per photo, PyTorch vs LiteRT, same run.

The PyTorch pipeline (``FaceAnalyzer``: tiled multi-scale detection, mesh, second mesh pass) is
timed as is, then again with each network's engine swapped for LiteRT running the same .tflite
(same tiles, decoding, NMS and crops), so the ratio isolates the networks. Photos come from the
asset manager (``test-media``). Also prints the landmark difference vs LiteRT on identical crops
(192-px crop units) and end to end (photo px).

    .venv/bin/python benchmarks/bench_face.py [--runs 5] [--threads 1] [--clock wall|cpu]

Prints a table of medians in ms. Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch
from torch import nn

from core import assets
from core.assets import asset_path
from core.face.analyzer import FaceAnalyzer, FaceModels
from core.face.blazeface import FULL_RANGE, SHORT_RANGE, BlazeFace
from core.face.facemesh_net import MESH_ASSET, FaceMeshNet
from core.face.mesh_roi import crop_rois, roi_from_landmarks

PHOTOS = ("surprise.jpg", "happy.jpg", "anger.jpg", "disgust.jpg", "single_face.jpg", "multi_face.jpg",
          "bw_photo.jpg", "no_face.jpg")


class LiteRtGraph(nn.Module):
    """Drop-in for TfliteGraph: NCHW in, outputs in the rebuilt layout, computed by LiteRT."""

    def __init__(self, path, threads: int) -> None:
        super().__init__()
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(model_path=str(path), num_threads=threads)
        self.it.allocate_tensors()
        d = self.it.get_input_details()[0]
        n, h, w, c = (int(v) for v in d["shape"])
        self.input_shapes = ((n, c, h, w),)
        self._in = d["index"]
        self._outs = [o["index"] for o in self.it.get_output_details()]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        xs = x.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        per_item = []
        for item in xs:
            self.it.set_tensor(self._in, item[None])
            self.it.invoke()
            per_item.append([self.it.get_tensor(i).copy() for i in self._outs])
        outs = [torch.from_numpy(np.concatenate(o)) for o in zip(*per_item, strict=True)]
        return tuple(o.permute(0, 3, 1, 2) if o.ndim == 4 else o for o in outs)


def litert_models(threads: int) -> FaceModels:
    def det(cfg):
        return BlazeFace(graph=LiteRtGraph(asset_path("face-detector", cfg.asset_file), threads), config=cfg)

    return FaceModels(short_range=det(SHORT_RANGE), full_range=det(FULL_RANGE),
                      mesh=FaceMeshNet(graph=LiteRtGraph(asset_path(*MESH_ASSET), threads)))


def median_ms(fn: Callable[[], object], runs: int, clock: Callable[[], float]) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch and LiteRT threads (same for both)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu = this process's CPU time (steadier on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    assets.ensure(["test-media", "face-detector", "face-mesh"])

    torch_an = FaceAnalyzer()
    lite_an = FaceAnalyzer(models=litert_models(args.threads))
    print(f"face pipeline, CPU, {args.threads} thread(s), {args.clock} clock, median of {args.runs} runs")
    print(f"{'photo':<16} {'size':>10} {'faces':>5} {'torch ms':>9} {'litert ms':>9} {'ratio':>6}"
          f" {'crop max':>9} {'crop mean':>9} {'e2e max':>8} {'e2e mean':>8}")
    ratios, crop_diffs, e2e_diffs = [], [], []
    for name in PHOTOS:
        bgr = cv2.imread(str(asset_path("test-media", name)), cv2.IMREAD_COLOR)
        img = np.ascontiguousarray(bgr[:, :, ::-1])
        t_torch = median_ms(lambda: torch_an.analyze(img), args.runs, clock)  # noqa: B023
        t_lite = median_ms(lambda: lite_an.analyze(img), args.runs, clock)  # noqa: B023
        ratios.append(t_torch / t_lite)
        faces = torch_an.analyze(img)
        lite_faces = lite_an.analyze(img)
        cells = ["-"] * 4
        if faces:
            # same crops through both networks (the refined ROIs the pipeline used)
            rois = torch.from_numpy(np.stack([roi_from_landmarks(f.landmarks) for f in faces]))
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).expand(len(faces), -1, -1, -1)
            crops = crop_rois(x, rois, size=FaceMeshNet.INPUT_SIZE)
            with torch.no_grad():
                d = (torch_an.mesh_net(crops).landmarks - lite_an.mesh_net(crops).landmarks).abs()
            crop_diffs.append(d.reshape(-1).numpy())
            cells[:2] = [f"{d.max():.1e}", f"{d.mean():.1e}"]
            if len(lite_faces) == len(faces):
                ours = np.stack([f.landmarks for f in faces])
                e = np.abs(ours - np.stack([f.landmarks for f in lite_faces]))
                e2e_diffs.append(e.reshape(-1))
                cells[2:] = [f"{e.max():.1e}", f"{e.mean():.1e}"]
        size = f"{img.shape[1]}x{img.shape[0]}"
        print(f"{name:<16} {size:>10} {len(faces):>5} {t_torch:>9.1f} {t_lite:>9.1f} {t_torch / t_lite:>6.2f}"
              f" {cells[0]:>9} {cells[1]:>9} {cells[2]:>8} {cells[3]:>8}")
    print(f"median torch/litert ratio over photos: {statistics.median(ratios):.2f}")
    if crop_diffs:
        c = np.concatenate(crop_diffs)
        print(f"landmarks vs LiteRT, same crops: max {c.max():.2e}, mean {c.mean():.2e} "
              "crop px (192-px units)")
    if e2e_diffs:
        e = np.concatenate(e2e_diffs)
        print(f"landmarks vs LiteRT, end to end: max {e.max():.2e}, mean {e.mean():.2e} photo px")


if __name__ == "__main__":
    main()
