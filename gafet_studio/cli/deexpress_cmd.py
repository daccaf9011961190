"""``gafet deexpress train|apply|pairs``: the De-expression model of paper §3.4.

    gafet deexpress train --config cpu-small-64 --data cache-64 --run-dir runs/dx --perceptual random
    gafet deexpress train --run-dir runs/dx --data cache-64 --resume --max-minutes 30
    gafet deexpress apply --model runs/dx/deexpress.safetensors photo.jpg -o out/
    gafet deexpress pairs --count 50000 -o pairs/ --editor runs/editor/editor.safetensors

* ``train``: a U²-Net (``--config``: tiny-32, cpu-small-64, small-128, full-256, or a JSON file)
  learns X -> X_n from pairs (``--pairs warp-neutral`` from a face cache, the default;
  ``stylegan2`` from a pairs folder; ``bootstrap`` from a cache and ``--gafet-model``) through the
  training module's machinery (:mod:`training.deexpress`): checkpoints in ``RUN/checkpoints``
  (whole run, ``--resume`` continues exactly), ``RUN/deexpress.safetensors`` (the network),
  ``metrics.jsonl``, TensorBoard, SIGTERM / Ctrl-C save and stop. LPIPS needs the imported
  ImageNet VGG-16, or ``--perceptual random`` (recorded in the checkpoint, never the paper's).
* ``apply``: neutralise every face of each photo, full size, into ``-o DIR`` (same file names);
  the inputs are never written.
* ``pairs``: generate (face, neutral face) pairs with the StyleGAN2 latent editor
  (:mod:`training.deexpress.stylegan_pairs`), with progress and resume without duplicates.

Top-level imports are torch-free: the heavy modules load when a sub-command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from core.errors import EXIT_NO_FACE, GafetError

CONFIG_NAMES = ("tiny-32", "cpu-small-64", "small-128", "full-256")
PAIR_SOURCES = ("warp-neutral", "stylegan2", "bootstrap")


class NoFaceNeutralisedError(GafetError):
    """No input photo had a face to neutralise."""

    exit_code = EXIT_NO_FACE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deexpress", help="train and apply the De-expression model (X -> neutral X_n)",
                       description="The De-expression model of paper §3.4: a U²-Net trained on (face, "
                       "neutral face) pairs, used by `gafet train --neutraliser deexpression CKPT`.")
    dsub = p.add_subparsers(dest="deexpress_command", metavar="ACTION", required=True)

    t = dsub.add_parser("train", help="train a De-expression U²-Net on pairs")
    t.add_argument("--config", metavar="NAME|FILE",
                   help=f"{', '.join(CONFIG_NAMES)} or a JSON file (required for a new run)")
    t.add_argument("--data", required=True, type=Path, metavar="CACHE",
                   help="a face cache (warp-neutral, bootstrap) or a pairs folder (stylegan2)")
    t.add_argument("--run-dir", required=True, type=Path, metavar="DIR")
    t.add_argument("--pairs", choices=PAIR_SOURCES, default="warp-neutral", help="the pair source")
    t.add_argument("--gafet-model", metavar="CKPT", help="the GaFET checkpoint of --pairs bootstrap")
    t.add_argument("--holdout", action="append", default=[], metavar="FILE:START:END",
                   help="video frames of the cache to leave out (repeatable)")
    t.add_argument("--max-steps", type=int, metavar="N")
    t.add_argument("--max-minutes", type=float, metavar="M")
    t.add_argument("--resume", action="store_true", help="continue the newest checkpoint in DIR")
    t.add_argument("--perceptual", choices=("imagenet", "random"),
                   help="LPIPS' VGG-16: the imported ImageNet weights (default) or seeded random ones")
    t.add_argument("--seed", type=int)
    t.add_argument("--batch", type=int, metavar="B")
    t.add_argument("--device", metavar="DEV", help="cpu, cuda or cuda:N (default: CUDA when available)")
    t.add_argument("--threads", type=int, metavar="T", help="torch CPU threads (default 1)")
    t.add_argument("--checkpoint-every", type=int, default=1000, metavar="N")
    t.add_argument("--checkpoint-minutes", type=float, default=10.0, metavar="M")
    t.add_argument("--keep", type=int, default=3, metavar="K")
    t.add_argument("--log-every", type=int, default=10, metavar="N")
    t.add_argument("--no-tensorboard", action="store_true")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=run_train)

    a = dsub.add_parser("apply", help="neutralise the faces of photos (full size) into a folder")
    a.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    a.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    a.add_argument("--model", type=Path, metavar="CKPT",
                   help="a De-expression checkpoint (default: <data home>/models/deexpress.safetensors)")
    a.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    a.add_argument("--device", default="cpu", metavar="DEV")
    a.set_defaults(func=run_apply)

    g = dsub.add_parser("pairs", help="generate (face, neutral) pairs with the StyleGAN2 latent editor")
    g.add_argument("--count", type=int, required=True, metavar="N", help="pairs wanted in total")
    g.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    g.add_argument("--editor", type=Path, metavar="CKPT",
                   help="a trained latent-editor checkpoint (its StyleGAN2 generator is named inside)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--batch", type=int, default=8)
    g.add_argument("--shard-size", type=int, default=256, metavar="N", help="pairs per file (unit of resume)")
    g.add_argument("--device", metavar="DEV")
    g.set_defaults(func=run_pairs)


# ---------------------------------------------------------------------------------------------
# train


def run_train(args: argparse.Namespace) -> int:
    from training.cli import RunDirError, RunExistsError, run_lock
    from training.data.sources import FrameRange
    from training.deexpress.config import config_from_spec, config_to_dict
    from training.deexpress.loop import train
    from training.deexpress.objective import DeexpressObjective
    from training.deexpress.pairs import PairFeed, build_pair_source
    from training.deexpress.state import DeexpressCheckpoints, load_state, new_state
    from training.distributed import local_context
    from training.loop import LoopSettings, StopFlag, Stopped
    from training.perceptual import RANDOM_WARNING
    from training.reporting import (
        JsonlSink,
        ProgressSink,
        Sink,
        TensorBoardSink,
        configure_cpu_threads,
        report,
        tensorboard_available,
    )
    from training.state import restore_rng

    ctx = local_context(args.device)
    if ctx.device.type == "cpu":
        configure_cpu_threads(args.threads)
    folder = DeexpressCheckpoints(args.run_dir, keep=args.keep)
    settings = LoopSettings(max_steps=args.max_steps, max_minutes=args.max_minutes,
                            checkpoint_every=args.checkpoint_every,
                            checkpoint_minutes=args.checkpoint_minutes,
                            keep_checkpoints=args.keep)
    with run_lock(args.run_dir):
        resumed = None
        if args.resume:
            resumed = folder.latest()
            if resumed is None:
                raise RunDirError(f"There is no De-expression checkpoint to resume in {folder.root}.")
            loaded = load_state(resumed, device=ctx.device)
            state = loaded.state
            if args.config and config_from_spec(args.config).name != state.config.name:
                raise RunDirError(f"The run in {args.run_dir} trains config '{state.config.name}', not "
                                  f"'{args.config}'; resume it without --config or start a new run.")
            restore_rng(loaded.rng[0])
            config = state.config
        else:
            if not args.config:
                raise RunDirError(f"A new run needs --config NAME ({', '.join(CONFIG_NAMES)}) or a JSON "
                                  "file.")
            if folder.checkpoints():
                raise RunExistsError(f"{args.run_dir} already holds a De-expression run; pass --resume to "
                                     "continue it, or choose another --run-dir.")
            config = config_from_spec(args.config)
            changes = {k: getattr(args, k) for k in ("perceptual", "seed", "batch")
                       if getattr(args, k) is not None}
            config = config.replace(**changes) if changes else config
            state = None
        objective = DeexpressObjective.build(config, device=ctx.device)  # missing VGG-16: raises here
        holdout = [FrameRange.parse(t) for t in args.holdout]
        source = build_pair_source(args.pairs, data=args.data, model=args.gafet_model, exclude=holdout,
                                   device=ctx.device)
        if state is None:
            state = new_state(config, device=ctx.device, run={
                **objective.metadata(), "pairs": source.name, "pair_count": len(source),
                "data": str(Path(args.data).resolve()), "holdout": list(args.holdout),
                "gafet_model": args.gafet_model})
        if objective.perceptual_random:
            print(f"{'!' * 80}\n{RANDOM_WARNING}\n{'!' * 80}", file=sys.stderr, flush=True)
        feed = PairFeed(source, resolution=config.resolution, batch=config.batch, augment=config.augment,
                        seed=config.seed, device=ctx.device)
        args.run_dir.mkdir(parents=True, exist_ok=True)
        info = {"command": sys.argv, "config": config_to_dict(config), "run": state.run,
                "resumed_from": None if resumed is None else str(resumed)}
        (args.run_dir / "run.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        sinks: list[Sink] = [JsonlSink(args.run_dir, every=args.log_every)]
        if not args.no_tensorboard and tensorboard_available():
            sinks.append(TensorBoardSink(args.run_dir, every=args.log_every))
        if not args.no_progress:
            sinks.append(ProgressSink())
        stop = StopFlag()
        previous = _stop_on_signals(stop)
        last = None
        try:
            for event in report(train(state, feed, objective, run_dir=args.run_dir, settings=settings,
                                      stop=stop, ctx=ctx, resumed_from=resumed), sinks):
                last = event
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if isinstance(last, Stopped):
        print(f"Stopped at step {last.step} ({last.reason.replace('_', ' ')}). "
              f"Checkpoint: {last.checkpoint}. Model: {args.run_dir / 'deexpress.safetensors'}.",
              file=sys.stderr)
    return 0


def _stop_on_signals(stop: Any) -> dict[int, Any]:  # a training.loop.StopFlag; handlers are untyped
    """SIGTERM / SIGINT request a checkpoint and a stop; a second Ctrl-C stops at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and stop.requested:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.request("signal")

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread
            previous[sig] = signal.signal(sig, handler)
    return previous


# ---------------------------------------------------------------------------------------------
# apply


def default_model() -> Path:
    from core.assets import data_home

    return data_home() / "models" / "deexpress.safetensors"


def run_apply(args: argparse.Namespace) -> int:
    from core.face.analyzer import FaceAnalyzer, load_face_models
    from core.io import load_photo
    from core.io.save import save_image
    from training.data.prepare import check_face_assets
    from training.deexpress.apply import DeexpressModel

    model_path = args.model or default_model()
    model = DeexpressModel.from_checkpoint(model_path, device=args.device)
    check_face_assets()
    analyzer = FaceAnalyzer(models=load_face_models("cpu"))
    args.output.mkdir(parents=True, exist_ok=True)
    inputs = [p.resolve() for p in args.photos]
    done = 0
    for path in args.photos:
        photo = load_photo(path)
        result = model.apply_photo(photo.rgb, analyzer)
        if result.faces == 0:
            print(f"{path}: no face found; skipped", file=sys.stderr)
            continue
        written = save_image(args.output / path.name, result.image, icc_profile=photo.icc_profile,
                             exif=photo.exif, overwrite=args.overwrite, protect=inputs)
        print(f"{path} -> {written} ({result.faces} face(s))")
        done += 1
    if done == 0:
        raise NoFaceNeutralisedError("No face was found in any input photo; nothing was written.")
    return 0


# ---------------------------------------------------------------------------------------------
# pairs


def run_pairs(args: argparse.Namespace) -> int:
    from training.deexpress.stylegan_pairs import run_pairs_command

    return run_pairs_command(args)
