"""GaFET generator benchmark: forward time, cached vs uncached slider move, parameters, peak memory.

For each preset (default gafet-256 and gafet-512, random weights) and device (CPU, and CUDA when
available), batch 1:

* forward: ``GaFET.forward`` (E_a, E_d, MFAT, E_e, FD, decoder), median over ``--runs``;
* slider move, uncached: what an alpha change costs without caches (= a full forward);
* slider move, cached: :class:`GafetEngine.render` with the source and reference cached;
* peak memory: CUDA ``torch.cuda.max_memory_allocated`` during the runs; CPU the process's peak
  resident set size (``ru_maxrss``) minus the resident size after the model was built, measured in
  a fresh subprocess per preset (``tracemalloc`` cannot see PyTorch's allocations).

CUDA runs use the engine's default precision (float16 autocast, float32 fallback) for the engine
columns and float32 for "forward". Prints a table; asserts nothing.

    .venv/bin/python benchmarks/bench_gafet.py [--presets gafet-256,gafet-512] [--devices cpu,cuda]
                                               [--runs 3] [--threads N] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from core.editing.gafet.engine import GafetEngine
from core.nets.config import preset
from core.nets.gafet import GaFET
from core.nets.stats import parameter_count
from core.render.flow import identity_grid

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _median_ms(fn: Callable[[], object], runs: int, device: torch.device,
               clock: Callable[[], float]) -> float:
    times = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((clock() - t0) * 1000)
    return statistics.median(times)


def _inputs(r: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    geometry = torch.rand(1, 4, r, r, generator=g) * 2 - 1
    flow = identity_grid(r, r) + 0.02 * torch.randn(1, 2, 8, 8, generator=g).repeat_interleave(
        r // 8, 2).repeat_interleave(r // 8, 3).permute(0, 2, 3, 1)
    return geometry.to(device), flow.to(device)


def worker(name: str, device_name: str, runs: int, clock_name: str) -> dict:
    """Measure one preset on one device; returns a JSON-ready dict."""
    clock = CLOCKS[clock_name]
    device = torch.device(device_name)
    cfg = preset(name)
    r = cfg.resolution
    torch.manual_seed(0)
    model = GaFET(config=cfg).to(device).eval().requires_grad_(False)
    source = (torch.rand(1, 3, r, r) * 2 - 1).to(device)
    reference = (torch.rand(1, 3, r, r) * 2 - 1).to(device)
    poses = [_inputs(r, seed, device) for seed in range(runs + 1)]
    rss_built = _rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    with torch.inference_mode():
        model(source, reference, *poses[0])  # warm-up
        forward = _median_ms(lambda: model(source, reference, *poses[0]), runs, device, clock)
    engine = GafetEngine(model, device=device)
    engine.set_source(source)
    engine.set_reference(reference)
    first = _median_ms(lambda: engine.render(*poses[0]), 1, device, clock)  # encodes + decode
    it = iter(poses[1:])
    cached = _median_ms(lambda: engine.render(*next(it)), runs, device, clock)

    def uncached() -> None:
        engine.set_source(source)  # drop the caches: what a slider move costs without them
        engine.set_reference(reference)
        engine.render(*poses[0])

    uncached_ms = _median_ms(uncached, runs, device, clock)
    result = engine.render(*poses[0])
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_built
    return {"preset": name, "device": device_name, "params": parameter_count(model),
            "precision": result.precision, "forward_ms": forward, "first_render_ms": first,
            "cached_ms": cached, "uncached_ms": uncached_ms, "peak_mib": peak,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="gafet-256,gafet-512")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads on the CPU")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall")
    parser.add_argument("--worker", nargs=2, metavar=("PRESET", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.runs, args.clock)))
        return 0

    rows = []
    for name in args.presets.split(","):
        for device in args.devices.split(","):
            cmd = [sys.executable, __file__, "--worker", name, device, "--runs", str(args.runs),
                   "--clock", args.clock] + (["--threads", str(args.threads)] if args.threads else [])
            print(f"running {name} on {device} ...", file=sys.stderr, flush=True)
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))

    print(f"\nGaFET generator, batch 1, random weights; median of {args.runs} ({args.clock} clock), "
          f"torch {torch.__version__}")
    head = (f"{'preset':<10} {'device':<6} {'thr':>3} {'params':>11} {'forward ms':>11} {'1st render':>11} "
            f"{'alpha cached':>13} {'alpha uncached':>15} {'speed-up':>9} {'precision':>9} {'peak MiB':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['preset']:<10} {r['device']:<6} {r['threads']:>3} {r['params']:>11,} "
              f"{r['forward_ms']:>11.1f} {r['first_render_ms']:>11.1f} {r['cached_ms']:>13.1f} "
              f"{r['uncached_ms']:>15.1f} "
              f"{r['uncached_ms'] / r['cached_ms']:>8.2f}x {r['precision']:>9} {r['peak_mib']:>9.0f}")
    print("\npeak MiB: CUDA max_memory_allocated; CPU peak RSS above the RSS after building the model.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
