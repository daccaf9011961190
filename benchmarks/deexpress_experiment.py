"""Does the De-expression network remove expressions? Train ``small`` (U²-NetP size) on warp-neutral pairs
from the training segments of the two real face videos, then compare on the held-out frames:
the De-expression output vs the input vs warp-neutral itself (issue 12).

    # the experiment (CPU; rerun the same command to continue where it stopped)
    OMP_NUM_THREADS=1 nice -n 15 python benchmarks/deexpress_experiment.py --work out/dx --minutes 30
    # a proof that every stage runs (minutes)
    OMP_NUM_THREADS=1 python benchmarks/deexpress_experiment.py --work /tmp/dxq --steps 3 --frame-step 40

Stages (a stage whose output exists is skipped):

1. **prepare**: ``gafet prepare`` of ``sad_to_laugh.mp4`` and ``neutral_to_smile.mp4`` at 64² with the
   warp neutraliser, each minus the held-out segment of ``benchmarks/train_video_experiment.py``
   (frames 240-359 and 36-59: the same hold-out, the same stage functions);
2. **train**: ``gafet deexpress train --config cpu-small-64 --pairs warp-neutral`` for ``--minutes``
   (and/or ``--steps``), resumed when the run exists; ``--perceptual auto`` uses the ImageNet VGG-16
   when imported, else ``random`` (said in the summary);
3. **evaluate**: every ``--frame-step``-th held-out frame: the face aligned at 256² (the Studio's
   framing) is X; warp-neutral is the warp editor's neutral preset on it (the ``warp`` neutraliser);
   De-exp is the trained network on X (:meth:`DeexpressModel.neutralise_crop`: run at 64², its change
   upsampled onto X). On each 256² crop: the mesh is detected again and the AU model fitted (mean
   of the 20 AU intensities, and of the person-relative ones ``aus - neutral_aus``), fer's
   p(neutral), dlib's identity distance to X, and the detail ratio (face-region Laplacian variance
   over X's);
4. **summary**: means per video and method (``summary.md``, printed), and close-ups
   (``--screens``/deexpress_closeups.png: X | warp-neutral | De-exp, and each mouth 2x);
5. **learning curve**: every ``--curve-every``-th step's checkpoint (the training keeps them all) on
   32 fixed, unaugmented training pairs and on the held-out (X, warp-neutral) pairs of stage 3 at
   64²: L1 to X_n over the whole crop and in the changed region (blurred ``|X - X_n|`` >= 0.05, the
   objective's ``change_scale``), against the identity (output = X).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train_video_experiment as tve  # the video experiment's stages (inputs, prepare, hold-out)

SIZE = 64  # the cache's crop size: cpu-small-64
CROP = 256  # evaluation crops (the Studio's working size for faces of these videos)
METHODS = ("input", "warp-neutral", "De-exp")
COLUMNS = (("au_mean", "AU mean ↓"), ("au_rel", "AU rel. to neutral ↓"), ("p_neutral", "fer p(neutral) ↑"),
           ("id_dist", "ID dist. to input ↓"), ("detail", "detail ratio (1 = input)"))


def stage_train(work: Path, cache: Path, args: argparse.Namespace, log: Path) -> Path:
    run = work / "dx-run"
    done = work / "train.done"
    if done.is_file():
        return run
    budget = (["--max-minutes", str(args.minutes)] if args.minutes is not None else []) + \
             (["--max-steps", str(args.steps)] if args.steps is not None else [])
    common = ["--data", str(cache), "--run-dir", str(run), "--no-progress", "--checkpoint-minutes", "10",
              "--checkpoint-every", str(args.curve_every), "--keep", "100", "--log-every", "5"]
    if (run / "checkpoints").is_dir() and any((run / "checkpoints").iterdir()):
        tve.gafet("deexpress", "train", "--resume", *budget, *common, log=log)
    else:
        tve.gafet("deexpress", "train", "--config", "cpu-small-64", "--perceptual", args.perceptual_mode,
                  "--seed", str(args.seed), *budget, *common, log=log)
    done.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return run


# ---------------------------------------------------------------------------------------------
# Evaluation


def held_out_frames(inputs: Path, frame_step: int) -> list[tuple[str, int, np.ndarray]]:
    from core.io import iter_frames

    out = []
    for name, (start, end) in tve.VIDEOS.items():
        count = -(-(end - start) // frame_step)
        for k, rgb in enumerate(iter_frames(inputs / name, step=frame_step, start=start, max_frames=count)):
            out.append((name, start + k * frame_step, rgb))
    return out


class Measure:
    """The measurements of one 256² crop (see the module docstring)."""

    def __init__(self) -> None:
        from core.editing.geometry_link import GeometryLink
        from core.evaluation.judges import load_judges
        from core.face.analyzer import FaceAnalyzer, load_face_models

        self.analyzer = FaceAnalyzer(models=load_face_models("cpu"))
        self.geometry = GeometryLink()
        self.judges = load_judges()
        if self.judges.identity is None or self.judges.emotion is None:
            raise SystemExit(f"judges missing: {self.judges.identity_problem} {self.judges.emotion_problem}")

    def __call__(self, crop: np.ndarray, reference: np.ndarray | None,
                 reference_face: object | None) -> tuple[dict[str, float], object | None]:
        from core.metrics.detail import detail_ratio, face_region
        from core.metrics.identity import identity_distance

        faces = tuple(self.analyzer.analyze(crop))
        if not faces:
            return {}, None
        face = max(faces, key=lambda f: f.presence)
        fit = self.geometry.fit(face.landmarks)
        row = {"au_mean": float(np.mean(fit.aus)),
               "au_rel": float(np.mean(np.clip(fit.aus - fit.neutral_aus, 0, None))),
               "p_neutral": float(self.judges.emotion.probabilities(crop, face)[6])}
        if reference is not None and reference_face is not None:
            d_ref = self.judges.identity.describe(reference, reference_face)
            row["id_dist"] = float(identity_distance(self.judges.identity.describe(crop, face), d_ref))
            row["detail"] = float(detail_ratio(crop, reference, face_region(reference_face.landmarks,
                                                                             reference.shape)))
        return row, face


def mouth_box(landmarks: np.ndarray, size: int) -> tuple[int, int, int, int]:
    pts = np.asarray(landmarks)[list(tve.MOUTH_POINTS), :2]
    cx, cy = pts.mean(0)
    half = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])) * 0.8 + 4
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(size, cx + half)), int(min(size, cy + half))
    return x0, y0, x1, y1


def stage_evaluate(work: Path, inputs: Path, run: Path, args: argparse.Namespace) -> dict:
    from core.editing.pipeline import EditPipeline
    from core.editing.warp.editor import WarpEditor
    from core.io.photo import Photo
    from training.data.neutraliser import WarpNeutraliser
    from training.deexpress.apply import DeexpressModel

    model = DeexpressModel.from_checkpoint(run / "deexpress.safetensors")
    pipeline = EditPipeline(editor=WarpEditor(), crop_size=CROP)
    warp = WarpNeutraliser(pipeline)
    measure = Measure()
    rows: list[dict] = []
    held_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    closeups: list[np.ndarray] = []
    for name, index, rgb in held_out_frames(inputs, args.frame_step):
        photo = Photo(rgb=rgb, alpha=None, icc_profile=None, exif=None, source_path=Path(f"{name}#{index}"),
                      format="PNG", source_mode="RGB")
        try:
            prepared = pipeline.prepare_source(photo)
        except Exception as err:  # a frame without a usable face is reported, not fatal
            print(f"{name}#{index}: skipped ({err})", flush=True)
            continue
        x = prepared.aligned.crop
        outputs = {"input": x, "warp-neutral": warp.neutralise(prepared).crop,
                   "De-exp": model.neutralise_crop(x)}
        held_pairs.append(tuple(cv2.resize(outputs[m], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
                                for m in ("input", "warp-neutral")))
        base, x_face = measure(x, None, None)
        if x_face is None:
            continue
        for method, crop in outputs.items():
            row, face = (base, x_face) if method == "input" else measure(crop, x, x_face)
            if method == "input":
                row = {**base, "id_dist": 0.0, "detail": 1.0}
            rows.append({"video": name, "frame": index, "method": method, "found": face is not None, **row})
        pipeline.forget_sources()
        if len(closeups) < args.closeups and index % (args.frame_step * 2) == 0:
            box = mouth_box(x_face.landmarks, CROP)
            tiles = [outputs[m] for m in METHODS]
            mouths = [cv2.resize(np.ascontiguousarray(t[box[1]:box[3], box[0]:box[2]]), (CROP, CROP),
                                 interpolation=cv2.INTER_CUBIC) for t in tiles]
            strip = np.concatenate([*tiles, *mouths], axis=1)
            cv2.putText(strip, f"{name}#{index}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
            closeups.append(strip)
    (work / "evaluation.json").write_text(json.dumps(rows, indent=1))
    if closeups:
        args.screens.mkdir(parents=True, exist_ok=True)
        grid = np.concatenate(closeups, axis=0)
        cv2.imwrite(str(args.screens / "deexpress_closeups.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return {"rows": rows, "held_pairs": held_pairs}


# ---------------------------------------------------------------------------------------------
# Learning curve: L1 to X_n at the network's resolution, per kept checkpoint


def _l1_table(outputs: np.ndarray, x: np.ndarray, xn: np.ndarray) -> tuple[float, float]:
    """(mean L1, L1 in the changed region) of outputs vs xn; arrays (N, 3, R, R) in [-1, 1]. The changed
    region: pixels whose blurred |X - X_n| reaches the objective's change_scale (0.05)."""
    import torch

    from training.deexpress.config import DeexpressLoss
    from training.deexpress.objective import change_weights

    loss = DeexpressLoss()
    weights = change_weights(torch.from_numpy(x), torch.from_numpy(xn), loss)
    region = weights >= 1 + loss.change_weight - 1e-6
    err = np.abs(outputs - xn).mean(1, keepdims=True)
    mask = region.numpy()
    return float(err.mean()), float(err[mask].mean()) if mask.any() else float("nan")


def stage_curve(run: Path, cache: Path, held_pairs: list[tuple[np.ndarray, np.ndarray]],
                train_count: int = 32) -> str:
    """L1 to X_n of every kept checkpoint on a fixed set of training pairs (unaugmented) and on the
    held-out (X, warp-neutral) pairs at the network's resolution, against the identity (output = X)."""
    import torch

    from training.deexpress.pairs import CachePairs
    from training.deexpress.state import DeexpressCheckpoints, load_model

    source = CachePairs(cache)
    pick = np.linspace(0, len(source) - 1, min(train_count, len(source))).round().astype(int)
    sets = {"train": (np.stack([source.pair(int(i)).face.numpy() for i in pick]),
                      np.stack([source.pair(int(i)).neutral.numpy() for i in pick]))}
    if held_pairs:
        to = lambda a: np.stack(a).astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0  # noqa: E731
        sets["held-out"] = (to([p[0] for p in held_pairs]), to([p[1] for p in held_pairs]))
    lines = ["| step | " + " | ".join(f"{k} L1 | {k} L1 changed region" for k in sets) + " |",
             "|---|" + "---|---|" * len(sets)]
    ident = [v for x, xn in sets.values() for v in _l1_table(x, x, xn)]
    lines.append("| identity (output = X) | " + " | ".join(f"{v:.4f}" for v in ident) + " |")
    for step, path in DeexpressCheckpoints(run).checkpoints():
        model = load_model(path)
        cells = []
        for x, xn in sets.values():
            with torch.no_grad():
                out = model.net(torch.from_numpy(x)).image.numpy()
            cells.extend(_l1_table(out, x, xn))
        lines.append(f"| {step} | " + " | ".join(f"{v:.4f}" for v in cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict], run: Path, perceptual: str) -> str:
    info = json.loads((run / "run.json").read_text())
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    first, last = metrics[0], metrics[-1]
    cfg = info["config"]
    loss = cfg["loss"]
    if loss["lpips"] == 0:
        perceptual = "off (LPIPS weight 0)"
    lines = [f"De-expression `small` (cpu-small-64) on warp-neutral pairs: {last['step']} steps, "
             f"{last['elapsed_s'] / 60:.1f} min; perceptual {perceptual} "
             f"({info['run'].get('pair_count')} pairs)",
             f"Adam lr {cfg['lr']}, batch {cfg['batch']}, side weight {loss['side']}, change weight "
             f"{loss.get('change_weight', 0.0)} (scale {loss.get('change_scale', '-')}), residual head scale "
             f"{cfg['net'].get('head_scale', 1.0)}",
             f"train loss g/l1 {first['g/l1']:.4f} (step {first['step']}) -> {last['g/l1']:.4f} "
             f"(step {last['step']}); g/total {first['g/total']:.4f} -> {last['g/total']:.4f}", "",
             "| video | method | frames | face found | " + " | ".join(label for _, label in COLUMNS) + " |",
             "|---|---|---|---|" + "---|" * len(COLUMNS)]
    for video in [*tve.VIDEOS, "all"]:
        for method in METHODS:
            sel = [r for r in rows if r["method"] == method and (video == "all" or r["video"] == video)]
            found = [r for r in sel if r["found"]]
            cells = []
            for key, _ in COLUMNS:
                vals = [r[key] for r in found if key in r]
                cells.append(f"{np.mean(vals):.3f}" if vals else "n/a")
            lines.append(f"| {video} | {method} | {len(sel)} | {len(found)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, default=Path("out/deexpress_experiment"))
    p.add_argument("--minutes", type=float, help="training time budget (default 30 unless --steps)")
    p.add_argument("--steps", type=int, help="training steps (in total)")
    p.add_argument("--fps", type=float, default=8.0, help="video frames sampled per second for the cache")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--perceptual", choices=("auto", "imagenet", "random"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frame-step", type=int, default=6, help="evaluate every N-th held-out frame")
    p.add_argument("--closeups", type=int, default=6, help="frames in the close-up image")
    p.add_argument("--curve-every", type=int, default=50,
                   help="checkpoint (and learning-curve) interval, steps")
    p.add_argument("--screens", type=Path, default=Path("/work/notes/screens"))
    args = p.parse_args()
    if args.minutes is None and args.steps is None:
        args.minutes = 30.0
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    args.perceptual_mode = tve.perceptual_mode(args.perceptual)
    log = args.work / "log.txt"
    inputs = tve.stage_inputs(args.work)
    cache = tve.stage_prepare(args.work, inputs, SIZE, args, log)
    run = stage_train(args.work, cache, args, log)
    result = stage_evaluate(args.work, inputs, run, args)
    text = summary(result["rows"], run, args.perceptual_mode)
    text += ("\n\nL1 to X_n at the network's resolution (fixed training pairs unaugmented; held-out: X and "
             "warp-neutral of the evaluated frames), per checkpoint; eval-mode network:\n\n"
             + stage_curve(run, cache, result["held_pairs"]))
    (args.work / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
