"""CPU cost of each GaFET training-loss term, at tiny-64 and small-128 (issue 11, sizing ``video-128``).

Per resolution and batch size, on real aligned faces (the lab photos of the test media), one
torch thread, ``--perceptual random`` VGGs (same cost as the ImageNet weights). Each row is the
median over ``--repeats`` runs of forward + backward, in process CPU seconds (robust to other
load on a shared machine) and wall seconds:

* ``G fwd+bwd`` (the baseline of the ratios): G's forward and an L1 backward into G;
* one row per loss term, computed on X̂ = G's output and backed into X̂ only (G excluded):
  L1, LPIPS-VGG16, L_cx (VGG-19 relu1_2/2_2/3_2, pooled to <= 1,024 positions), the expression
  fit (mesh network + differentiable AU fit on X̂, plus the no-grad fit of the reference) with
  L_exp^shape + L_exp^AU, L_adv^global (D on X̂), L_adv^comp (patches + D_comp);
* ``objective G step`` (generator_loss + backward, everything), ``objective D step``
  (discriminator_loss + backward) and ``R1 step`` (r1_step + backward);
* ``iteration`` = G step + D step + R1/16, and samples/s from it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_losses.py [--batches 1 2] [--repeats 5]

Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from core import assets
from core.face.align import AlignConfig, align_face
from core.face.analyzer import FaceAnalyzer
from core.io import load_photo
from core.nets.component_crops import crop_components
from core.nets.gafet import build_networks
from core.render.flow import identity_grid
from training.batch import Batch, continuous_px
from training.config import TrainingConfig, training_config
from training.losses.adversarial import generator_adversarial_loss
from training.losses.contextual import contextual_loss
from training.losses.expression import expression_au_loss, expression_shape_loss
from training.losses.reconstruction import l1_distance, lpips_distance
from training.objective import GafetObjective

PHOTOS = ("happy.jpg", "surprise.jpg", "anger.jpg", "disgust.jpg")


def _faces(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    analyzer = FaceAnalyzer()
    crops, marks = [], []
    for name in PHOTOS:
        photo = load_photo(assets.asset_path("test-media", name)).rgb
        face = align_face(photo, analyzer.analyze_one(photo).landmarks, AlignConfig(size=size))
        crops.append(face.crop)
        marks.append(face.landmarks)
    images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return images, torch.from_numpy(np.stack(marks)).float()


def _batch(cfg: TrainingConfig, faces: tuple[torch.Tensor, torch.Tensor], b: int) -> Batch:
    images, marks = faces
    idx, ref = torch.arange(b) % 4, (torch.arange(b) + 1) % 4
    r = cfg.resolution
    g = torch.Generator().manual_seed(0)
    geometry = torch.rand(b, cfg.net.geometry_channels, r, r, generator=g) * 2 - 1
    flow = identity_grid(r, r, batch=b)
    return Batch(source=images[idx], reference=images[ref], geometry=geometry, flow=flow,
                 target_landmarks=marks[idx], reference_landmarks=marks[ref], paired=True)


def _median(fn: Callable[[], None], repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def bench(cfg: TrainingConfig, b: int, repeats: int) -> None:
    torch.manual_seed(0)
    nets = build_networks(cfg.net)
    objective = GafetObjective.build(cfg)
    batch = _batch(cfg, _faces(cfg.resolution), b)
    with torch.no_grad():
        fake0 = nets.generator(batch.source, batch.reference, batch.geometry, batch.flow).image

    def term(loss_of: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            x = fake0.clone().requires_grad_(True)
            loss_of(x).backward()
        return run

    def g_fwd_bwd() -> None:
        out = nets.generator(batch.source, batch.reference, batch.geometry, batch.flow).image
        l1_distance(out, batch.reference).backward()

    p, fitter, c = objective.perceptual, objective.fitter, cfg.contextual
    assert p.lpips is not None and p.vgg19 is not None and fitter is not None

    def cx(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = p.vgg19(batch.source)
        return contextual_loss(p.vgg19(x), target, band_width=c.band_width, eps=c.eps,
                               max_positions=c.max_positions).sum()

    def expression(x: torch.Tensor) -> torch.Tensor:
        pred = fitter(x, batch.target_landmarks)
        with torch.no_grad():
            ref = fitter(batch.reference, batch.reference_landmarks).params.detach()
        return (expression_shape_loss(fitter.model, pred.params.expression, ref, unit_scale=fitter.unit_scale)
                + expression_au_loss(pred.params.expression, ref.expression, neutral=0.1))

    def adv_comp(x: torch.Tensor) -> torch.Tensor:
        patches = crop_components(x, continuous_px(batch.target_landmarks),
                                  size=cfg.net.discriminator.component_patch)
        return torch.stack([generator_adversarial_loss(nets.component_discriminator(q))
                            for q in patches.patches]).mean()

    def g_step() -> None:
        objective.generator_loss(nets, batch).total.backward()

    def d_step() -> None:
        objective.discriminator_loss(nets, batch, fake0).total.backward()

    def r1_step() -> None:
        objective.r1_step(nets, batch).total.backward()

    rows: list[tuple[str, Callable[[], None]]] = [
        ("G fwd+bwd (baseline)", g_fwd_bwd),
        ("L1", term(lambda x: l1_distance(x, batch.reference))),
        ("LPIPS-VGG16", term(lambda x: lpips_distance(x, batch.reference, p.lpips))),
        (f"L_cx VGG-19 {'/'.join(c.layers)} <= {c.max_positions} pos", term(cx)),
        ("expression fit + L_exp^shape + L_exp^AU", term(expression)),
        ("L_adv^global (D on X^)", term(lambda x: generator_adversarial_loss(nets.discriminator(x)))),
        ("L_adv^comp (3 patches, D_comp)", term(adv_comp)),
        ("objective G step (all terms)", g_step),
        ("objective D step (global + comp)", d_step),
        ("R1 step (global + comp)", r1_step),
    ]
    print(f"\n{cfg.name} ({cfg.net.name}, {cfg.resolution}^2), batch {b}: median of {repeats}, 1 thread")
    print(f"  {'term':<52} {'CPU s':>8} {'wall s':>8} {'x G':>6}")
    results = {}
    for name, fn in rows:
        cpu, wall = _median(fn, repeats)
        results[name] = cpu
        base = results["G fwd+bwd (baseline)"]
        print(f"  {name:<52} {cpu:8.3f} {wall:8.3f} {cpu / base:6.2f}")
        for module in (nets.generator, nets.discriminator, nets.component_discriminator):
            module.zero_grad(set_to_none=True)
    iteration = (results["objective G step (all terms)"] + results["objective D step (global + comp)"]
                 + results["R1 step (global + comp)"] / cfg.r1.interval)
    print(f"  {'iteration = G + D + R1/' + str(cfg.r1.interval):<52} {iteration:8.3f} {'':>8} "
          f"{iteration / results['G fwd+bwd (baseline)']:6.2f}")
    print(f"  -> {b / iteration:.2f} samples/s, {3600 / iteration:,.0f} iterations/h (CPU time, 1 core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["cpu-smoke", "video-128"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    assets.ensure(["test-media"])
    for name in args.configs:
        cfg = training_config(name).replace(perceptual="random")
        for b in args.batches:
            bench(cfg.replace(batch=b), b, args.repeats)


if __name__ == "__main__":
    main()
