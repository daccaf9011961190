"""Measure the expression losses' scales on real faces -> the AU unit conversion of ``training/config.py``.

§3.5 of the paper: "We set these loss weights to equalize the different loss items" (λ_exp^shape
150, λ_exp^AU 50, the rest 1). The weights were set for the paper's measurements: EMOCA/FLAME
shapes in metres (L_exp^shape, Eq. 2) and MLCR's 12 AU probabilities (L_exp^AU, Eq. 3). Our
stand-ins (:mod:`training.losses.expression`) come in other units:

* L_exp^shape is already converted to metres (``ExpressionFitter.unit_scale``, from the mean
  outer-canthal width), so λ_exp^shape = 150 applies as in the paper;
* L_exp^AU is 1 − cos between 20 *box-constrained* AU intensities (+ τ). MLCR's sigmoid outputs
  are dense and never 0, so its cosines between two faces are high; ours are sparse (many AUs at
  exactly 0), so 1 − cos between two different expressions is an order of magnitude larger.

Under the paper's rule the two expression items are equal on average: λ_exp^AU · s · E[L_AU] =
λ_exp^shape · E[L_shape] over the same real expression pairs, which gives the unit conversion
``s`` (``ExpressionConfig.au_unit_scale``). This script measures both means on the test media with
exactly the training measurement (:class:`training.face_fit.ExpressionFitter` on aligned crops at
the config's resolution): ordered pairs of frames of the same video (one person, only the
expression changes; X̂ = frame i measured against Y = frame j) and ordered pairs of the four
expression photos (different people, as in unpaired training). It also prints, for context, the
image L1 between the same pairs and, with ``--gradients``, the norm of each weighted term's
gradient with respect to X's pixels.

    OMP_NUM_THREADS=1 .venv/bin/python tools/measure_loss_scales.py [--config cpu-smoke]
        [--video-step 30] [--gradients]

Needs the assets test-media, face-detector, face-mesh and au-face-model. Prints; writes nothing.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import assets
from core.face.align import AlignConfig, align_face
from core.face.analyzer import FaceAnalyzer
from core.io import load_photo
from core.io.video import iter_frames
from training.config import training_config
from training.face_fit import ExpressionFitter
from training.losses.expression import expression_au_loss, expression_shape_loss

PHOTOS = ("happy.jpg", "surprise.jpg", "anger.jpg", "disgust.jpg")
VIDEOS = ("sad_to_laugh.mp4", "neutral_to_smile.mp4")


@dataclass(frozen=True)
class Face:
    group: str  # pairs are formed within a group (one video, or the photos)
    image: torch.Tensor  # (1, 3, R, R) float32 in [-1, 1], aligned crop
    landmarks: torch.Tensor  # (1, 468, 3) float32 crop px


def aligned(analyzer: FaceAnalyzer, rgb: np.ndarray, size: int, group: str) -> Face | None:
    faces = analyzer.analyze(np.ascontiguousarray(rgb))
    if not faces:
        return None
    crop = align_face(rgb, faces[0].landmarks, AlignConfig(size=size))
    image = torch.from_numpy(np.ascontiguousarray(crop.crop)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    return Face(group=group, image=image, landmarks=torch.from_numpy(crop.landmarks)[None].float())


def collect(size: int, video_step: int) -> list[Face]:
    analyzer = FaceAnalyzer()
    faces = [aligned(analyzer, load_photo(assets.asset_path("test-media", n)).rgb, size, "photos")
             for n in PHOTOS]
    for video in VIDEOS:
        for rgb in iter_frames(assets.asset_path("test-media", video), step=video_step):
            faces.append(aligned(analyzer, rgb, size, video))
    return [f for f in faces if f is not None]


def summary(name: str, values: list[float]) -> str:
    v = np.asarray(values)
    return f"{name:<22} mean {v.mean():.5f}  median {np.median(v):.5f}  p10 {np.quantile(v, 0.1):.5f}  " \
           f"p90 {np.quantile(v, 0.9):.5f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="cpu-smoke", help="training config (its resolution and τ)")
    ap.add_argument("--video-step", type=int, default=30, help="use every N-th video frame")
    ap.add_argument("--gradients", action="store_true", help="also the image-gradient norms (photo pairs)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    assets.ensure(["test-media", "face-detector", "face-mesh", "au-face-model"])
    cfg = training_config(args.config)
    tau, w = cfg.expression.au_neutral, cfg.weights
    fitter = ExpressionFitter.from_assets(rounds=cfg.expression.fit_rounds)
    faces = collect(cfg.resolution, args.video_step)
    with torch.no_grad():
        params = [fitter(f.image, f.landmarks).params for f in faces]
    shape, au, l1 = [], [], []
    for i, j in itertools.permutations(range(len(faces)), 2):
        if faces[i].group != faces[j].group:
            continue
        with torch.no_grad():
            shape.append(float(expression_shape_loss(fitter.model, params[i].expression, params[j],
                                                     unit_scale=fitter.unit_scale)))
            au.append(float(expression_au_loss(params[i].expression, params[j].expression, neutral=tau)))
            l1.append(float((faces[i].image - faces[j].image).abs().mean()))
    groups = {f.group: sum(g.group == f.group for g in faces) for f in faces}
    print(f"config {cfg.name} ({cfg.resolution}²), τ = {tau}; faces per group {groups}; "
          f"{len(au)} ordered pairs")
    print(summary("L_exp^shape (m)", shape))
    print(summary("L_exp^AU (1 - cos)", au))
    print(summary("L1 between the images", l1))
    s = w.exp_shape * float(np.mean(shape)) / (w.exp_au * float(np.mean(au)))
    print(f"λ_shape·E[L_shape] = {w.exp_shape * np.mean(shape):.4f}; "
          f"λ_AU·E[L_AU] = {w.exp_au * np.mean(au):.4f}")
    print(f"au_unit_scale s = λ_shape·E[L_shape] / (λ_AU·E[L_AU]) = {s:.4f}")
    if args.gradients:
        photos = [k for k, f in enumerate(faces) if f.group == "photos"]
        rows = []
        for i, j in itertools.permutations(photos, 2):
            x = faces[i].image.clone().requires_grad_(True)
            pred = fitter(x, faces[i].landmarks).params.expression
            terms = {"150·L_shape": w.exp_shape * expression_shape_loss(fitter.model, pred, params[j],
                                                                        unit_scale=fitter.unit_scale),
                     "50·L_AU": w.exp_au * expression_au_loss(pred, params[j].expression, neutral=tau),
                     "50·s·L_AU": w.exp_au * s * expression_au_loss(pred, params[j].expression, neutral=tau),
                     "L1": (x - faces[j].image).abs().mean()}
            rows.append({k: float(torch.autograd.grad(v, x, retain_graph=True)[0].norm())
                         for k, v in terms.items()})
        print("median |∇_X| over the photo pairs: "
              + ", ".join(f"{k} {np.median([r[k] for r in rows]):.4f}" for k in rows[0]))


if __name__ == "__main__":
    main()
