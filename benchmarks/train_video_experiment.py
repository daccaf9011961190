"""Does training learn? Train on two real videos minus a held-out segment, then compare on the held-out
frames: the trained G_ema, the same network untrained, and the warp editor (issue 11).

    # the full experiment (CPU, about 90 minutes of training; rerun the same command to continue)
    OMP_NUM_THREADS=1 python benchmarks/train_video_experiment.py --work out/video_experiment --minutes 90
    # a proof that every stage runs (a few steps; minutes)
    OMP_NUM_THREADS=1 python benchmarks/train_video_experiment.py --work /tmp/vx --steps 3 --frame-step 40

Stages (each is a ``gafet`` command, run as a subprocess; a stage whose output exists is skipped,
so an interrupted experiment continues where it stopped):

1. **prepare**: ``gafet prepare`` of ``sad_to_laugh.mp4`` (woman crying → laughing, 472 frames) and
   ``neutral_to_smile.mp4`` (man neutral → smile, 72 frames) from the test media, at the config's
   resolution, ``--fps`` frames per second, each **minus a contiguous held-out segment with
   expression change** (``--holdout``: frames 240-359 and 36-59 by default);
2. **untrained**: ``gafet train --max-steps 0`` writes the run's step-0 checkpoint; its G_ema is
   copied to ``untrained.safetensors``: exactly the network the training starts from;
3. **train**: ``gafet train --resume`` of that run, ``video-128`` by default, for ``--minutes`` (and/or
   ``--steps``), checkpointing every 10 minutes; ``--perceptual auto`` uses the ImageNet VGGs when
   imported, else ``random`` (said in the summary);
4. **evaluate**: per video, ``gafet evaluate --video V --holdout START:END --frame-step K`` with the
   three editors. Each held-out frame is the reference and the target; the source is the training
   frame just before the segment (same person, similar pose);
5. **summary**: a table of L1, SSIM, identity distance, AED and emotion agreement per video and
   editor (``summary.md``, printed), the loss curves from ``metrics.jsonl`` (``loss_curves.png``)
   and enlarged mouth close-ups of a few held-out frames (``mouths.png``: target | warp | untrained
   | trained, each mouth 4x).

Prints figures; asserts nothing. Everything goes under ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from core import assets

VIDEOS = {"sad_to_laugh.mp4": (240, 360), "neutral_to_smile.mp4": (36, 60)}
METRICS = (("l1", "L1 ↓"), ("ssim", "SSIM ↑"), ("identity_distance", "ID dist. ↓"), ("aed", "AED ↓"),
           ("expression_agrees", "Emotion agrees ↑"))
CURVES = ("g/total", "g/rec_l1", "g/rec_lpips", "g/exp_shape", "g/exp_au", "g/cx", "g/adv_global", "d/total")
MOUTH_POINTS = (61, 291, 0, 17, 13, 14, 78, 308, 81, 311, 178, 402)  # lips of the 468-point mesh


def gafet(*args: str, log: Path, ok: tuple[int, ...] = (0,)) -> None:
    """Run ``gafet ARGS`` (this interpreter), appending its output to ``log``; stop on an exit code
    not in ``ok``."""
    cmd = [sys.executable, "-m", "gafet_studio.cli.main", *args]
    print("$ gafet " + " ".join(args), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("$ gafet " + " ".join(args) + "\n")
        fh.flush()
        code = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if code not in ok:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"gafet {args[0]} failed (exit code {code}); the end of {log}:\n{tail}")


def perceptual_mode(choice: str) -> str:
    if choice != "auto":
        return choice
    from core.metrics import weights

    return "imagenet" if all(weights.is_imported(n) for n in ("vgg16", "vgg19")) else "random"


# ---------------------------------------------------------------------------------------------
# Stages


def stage_inputs(work: Path) -> Path:
    inputs = work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    assets.ensure(["test-media"])
    for name in VIDEOS:
        target = inputs / name
        if not target.exists():
            shutil.copyfile(assets.asset_path("test-media", name), target)
    return inputs


def stage_prepare(work: Path, inputs: Path, size: int, args: argparse.Namespace, log: Path) -> Path:
    cache = work / f"cache-{size}"
    index = cache / "index.json"
    if index.is_file() and json.loads(index.read_text()).get("complete"):
        return cache
    holdouts = [a for name, (s, e) in VIDEOS.items() for a in ("--holdout", f"{name}:{s}:{e}")]
    gafet("prepare", str(inputs), "-o", str(cache), "--size", str(size), "--fps", str(args.fps),
          "--workers", str(args.workers), *holdouts, log=log)
    return cache


def stage_train(work: Path, cache: Path, perceptual: str, args: argparse.Namespace, log: Path) -> Path:
    run = work / "run"
    untrained = work / "untrained.safetensors"
    common = ["--data", str(cache), "--run-dir", str(run), "--no-progress", "--checkpoint-minutes", "10",
              "--checkpoint-every", "100000"]
    if not untrained.is_file():
        if not (run / "checkpoints").is_dir():
            gafet("train", "--config", args.config, "--perceptual", perceptual, "--seed", str(args.seed),
                  "--max-steps", "0", *common, log=log)
        shutil.copyfile(run / "generator.safetensors", untrained)
    budget = []
    if args.minutes is not None:
        budget += ["--max-minutes", str(args.minutes)]
    if args.steps is not None:
        budget += ["--max-steps", str(args.steps)]
    done = work / "train.done"
    if not done.is_file():
        gafet("train", "--resume", *budget, *common, log=log)
        done.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return run


def stage_evaluate(work: Path, inputs: Path, run: Path, args: argparse.Namespace,
                   log: Path) -> dict[str, Path]:
    out = {}
    editors = ["--editor", str(run / "generator.safetensors"),
               "--editor", str(work / "untrained.safetensors"), "--editor", "warp"]
    for name, (start, end) in VIDEOS.items():
        result = work / f"evaluate-{Path(name).stem}.json"
        if not result.is_file():
            gafet("evaluate", "--video", str(inputs / name), "--holdout", f"{start}:{end}", "--frame-step",
                  str(args.frame_step), *editors, "--crop-size", str(args.crop_size), "--device", "cpu",
                  "--json", str(result), "--report", str(work / f"report-{Path(name).stem}"),
                  "--cache", str(work / "evaluate-cache"), log=log,
                  ok=(0, 3))  # 3: the judges found no face in some outputs (counted as failed)
        out[name] = result
    return out


# ---------------------------------------------------------------------------------------------
# Summary


def _editor_label(editor: str, work: Path) -> str:
    """gafet evaluate names a checkpoint editor ``gafet:<file stem>``."""
    if editor == "warp":
        return "warp editor"
    if editor.endswith("untrained") or Path(editor).stem == "untrained":
        return "GaFET untrained"
    return "GaFET trained"


def summary_table(results: dict[str, Path], work: Path) -> str:
    lines = ["| video | editor | n | no face found | " + " | ".join(label for _, label in METRICS) + " |",
             "|---|---|---|---|" + "---|" * len(METRICS)]
    for name, path in results.items():
        doc = json.loads(path.read_text())
        for entry in doc["editors"]:
            means = entry["means"]
            cells = [f"{means[k]:.4f}" if isinstance(means.get(k), int | float) else "n/a"
                     for k, _ in METRICS]
            lines.append(f"| {name} | {_editor_label(entry['editor'], work)} | {entry['evaluated']} | "
                         f"{entry['failed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def loss_curves(metrics: Path, out: Path) -> None:
    """One small panel per loss term (a moving average over 5 % of the steps), drawn with OpenCV."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    panels = []
    for key in CURVES:
        points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), int | float)]
        panel = np.full((180, 320, 3), 255, np.uint8)
        cv2.putText(panel, key, (8, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        if len(points) >= 2:
            steps = np.array([p[0] for p in points], float)
            values = np.array([p[1] for p in points], float)
            k = max(1, len(values) // 20)
            smooth = np.convolve(values, np.ones(k) / k, mode="valid")
            xs = steps[k - 1:]
            lo, hi = float(smooth.min()), float(smooth.max())
            span = hi - lo or 1.0
            pts = np.stack([20 + (xs - xs[0]) / max(xs[-1] - xs[0], 1) * 290,
                            170 - (smooth - lo) / span * 140], axis=1).astype(np.int32)
            cv2.polylines(panel, [pts], False, (180, 90, 20), 1, cv2.LINE_AA)
            for text, y in ((f"{hi:.3g}", 32), (f"{lo:.3g}", 168)):
                cv2.putText(panel, text, (250, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90), 1,
                            cv2.LINE_AA)
            cv2.putText(panel, f"steps {int(xs[0])}-{int(xs[-1])}", (8, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (90, 90, 90), 1, cv2.LINE_AA)
        panels.append(panel)
    while len(panels) % 4:
        panels.append(np.full_like(panels[0], 255))
    grid = np.concatenate([np.concatenate(panels[i:i + 4], axis=1) for i in range(0, len(panels), 4)], axis=0)
    cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def mouth_closeups(work: Path, inputs: Path, run: Path, crop_size: int, out: Path, *,
                   per_video: int = 3) -> None:
    """Rows of held-out frames: target | warp | untrained | trained, each mouth enlarged 4x (the edits
    take the source frame just before the segment and the held-out frame as the reference)."""
    from core.editing.params import EditParams
    from core.editing.pipeline import EditPipeline
    from core.editing.spec import EditorSpec, build_editor
    from core.io import iter_frames, load_photo

    specs = [EditorSpec.warp(), EditorSpec.gafet(work / "untrained.safetensors", device="cpu"),
             EditorSpec.gafet(run / "generator.safetensors", device="cpu")]
    pipelines = [EditPipeline(editor=build_editor(s), crop_size=crop_size) for s in specs]
    frames_dir = work / "frames"
    frames_dir.mkdir(exist_ok=True)
    rows = []
    for name, (start, end) in VIDEOS.items():
        held = sorted(set(np.linspace(start, end - 1, per_video).round().astype(int).tolist()))
        paths = {}
        for i, frame in enumerate(iter_frames(inputs / name, max_frames=end)):
            if i in (start - 1, *held):
                paths[i] = frames_dir / f"{Path(name).stem}_{i:06d}.png"
                if not paths[i].is_file():
                    cv2.imwrite(str(paths[i]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        source = load_photo(paths[start - 1])
        for index in held:
            target = load_photo(paths[index])
            own = pipelines[0].prepare_source(target)  # the held-out frame in its own crop
            tiles = [(own.aligned.crop, own.vertices)]
            for pipe in pipelines:
                result = pipe.render(pipe.prepare_source(source), pipe.prepare_reference(target),
                                     EditParams(alpha=1.0), full_resolution=False)
                tiles.append((result.crop, result.target_vertices))
            row = []
            for crop, vertices in tiles:
                lips = np.asarray(vertices)[list(MOUTH_POINTS), :2]
                cx, cy = lips.mean(axis=0)
                half = max(12, int((lips[:, 0].max() - lips[:, 0].min()) * 0.75))
                x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
                patch = np.ascontiguousarray(crop[y0:y0 + 2 * half, x0:x0 + 2 * half])
                row.append(cv2.resize(patch, (256, 256), interpolation=cv2.INTER_NEAREST))
            rows.append(np.concatenate(row, axis=1))
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("out/video_experiment"))
    p.add_argument("--config", default="video-128")
    p.add_argument("--minutes", type=float, help="training time budget (default 90 unless --steps)")
    p.add_argument("--steps", type=int, help="training steps (in total)")
    p.add_argument("--fps", type=float, default=8.0, help="video frames sampled per second for the cache")
    p.add_argument("--workers", type=int, default=1, help="gafet prepare worker processes")
    p.add_argument("--perceptual", choices=("auto", "imagenet", "random"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frame-step", type=int, default=6, help="evaluate every N-th held-out frame")
    p.add_argument("--crop-size", type=int, default=256, help="edit crop side of the evaluation (px)")
    args = p.parse_args()
    if args.minutes is None and args.steps is None:
        args.minutes = 90.0
    from training.config import training_config

    size = training_config(args.config).net.resolution
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    log = work / "commands.log"
    perceptual = perceptual_mode(args.perceptual)
    t0 = time.perf_counter()
    inputs = stage_inputs(work)
    cache = stage_prepare(work, inputs, size, args, log)
    t_prepare = time.perf_counter()
    run = stage_train(work, cache, perceptual, args, log)
    t_train = time.perf_counter()
    results = stage_evaluate(work, inputs, run, args, log)
    t_eval = time.perf_counter()
    table = summary_table(results, work)
    metrics = run / "metrics.jsonl"
    steps = sum(1 for _ in metrics.open()) if metrics.is_file() else 0
    if metrics.is_file():
        loss_curves(metrics, work / "loss_curves.png")
    mouth_closeups(work, inputs, run, args.crop_size, work / "mouths.png")
    text = (f"# Video experiment ({args.config}, perceptual={perceptual}, {steps} logged steps)\n\n"
            f"Held out: " + ", ".join(f"{n} frames {s}-{e - 1}" for n, (s, e) in VIDEOS.items()) + "\n\n"
            f"{table}\n\nWall time: prepare {t_prepare - t0:.0f} s, train {t_train - t_prepare:.0f} s, "
            f"evaluate {t_eval - t_train:.0f} s (this session). Curves: loss_curves.png; mouths: "
            f"mouths.png.\n")
    (work / "summary.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
