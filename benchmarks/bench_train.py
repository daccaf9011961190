"""CPU training throughput per training config: full steps of the real loop and objective.

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py                     # cpu-smoke, video-128
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --configs cpu-smoke video-128 ffhq-256 --steps 3

Each config trains ``--steps`` measured steps (after one warm-up step) with every loss on, through
:func:`training.loop.train` exactly as ``gafet train`` runs it (G step, D step, lazy R1, EMA), on a
small face cache prepared from the four lab portraits of the test media at the config's
resolution (kept in ``--work`` between runs). The perceptual networks are ``random`` (the ImageNet
VGG files are not shipped; the cost is the same). Prints the median step time, samples/s, samples
per hour and the time relative to ``cpu-smoke`` measured in the same run. Asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from core import assets
from training.config import training_config
from training.data.cache import CacheSettings
from training.data.dataset import FaceCacheDataset
from training.data.prepare import run_prepare
from training.distributed import local_context
from training.feed import CacheFeed
from training.loop import LoopSettings, StepDone, train
from training.objective import GafetObjective
from training.state import new_state

PHOTOS = ("anger.jpg", "happy.jpg", "surprise.jpg", "disgust.jpg")


def face_cache(work: Path, size: int) -> Path:
    """A cache of the four lab portraits at ``size`` px (prepared once into ``work``)."""
    root = work / f"cache-{size}"
    index = root / "index.json"
    if index.is_file() and json.loads(index.read_text()).get("complete"):
        return root
    inputs = work / "photos"
    inputs.mkdir(parents=True, exist_ok=True)
    assets.ensure(["test-media"])
    for name in PHOTOS:
        target = inputs / name
        if not target.exists():
            target.write_bytes(assets.asset_path("test-media", name).read_bytes())
    run_prepare([inputs], root, CacheSettings(size=size, fps=1.0), workers=1)
    return root


def measure(name: str, *, steps: int, batch: int | None, work: Path) -> tuple[int, list[float]]:
    config = dataclasses.replace(training_config(name), perceptual="random")
    if batch is not None:
        config = config.replace(batch=batch)
    ctx = local_context("cpu")
    dataset = FaceCacheDataset(face_cache(work, config.net.resolution))
    objective = GafetObjective.build(config, device=ctx.device)
    state = new_state(config, device=ctx.device)
    feed = CacheFeed(dataset, config, ctx)
    seconds = []
    with tempfile.TemporaryDirectory() as run_dir:
        settings = LoopSettings(max_steps=steps + 1, checkpoint_every=10**9, checkpoint_minutes=None,
                                export_generator=False)
        for event in train(state, feed, objective, ctx=ctx, run_dir=run_dir, settings=settings):
            if isinstance(event, StepDone) and event.step > 1:  # step 1 is the warm-up
                seconds.append(event.seconds)
    return config.batch, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["cpu-smoke", "video-128"])
    p.add_argument("--steps", type=int, default=5, help="measured steps per config (after 1 warm-up step)")
    p.add_argument("--batch", type=int, help="override every config's batch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "gafet-bench-train")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    names = list(dict.fromkeys(["cpu-smoke", *args.configs]))  # the baseline first
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} measured steps per config, "
          f"perceptual=random, all losses on")
    print(f"{'config':<11} {'batch':>5} {'median s/step':>14} {'samples/s':>10} {'samples/h':>10} "
          f"{'s/sample vs cpu-smoke':>22}")
    base = None
    for name in names:
        t0 = time.perf_counter()
        batch, seconds = measure(name, steps=args.steps, batch=args.batch, work=args.work)
        med = statistics.median(seconds)
        per_sample = med / batch
        base = base or per_sample
        print(f"{name:<11} {batch:>5} {med:>14.3f} {batch / med:>10.2f} {3600 * batch / med:>10.0f} "
              f"{per_sample / base:>21.1f}x   ({time.perf_counter() - t0:.0f} s incl. setup)", flush=True)


if __name__ == "__main__":
    main()
