"""``gafet train`` (and ``python -m training``, which torchrun starts): one training run from the
command line.

    gafet train --config cpu-smoke --data cache-64 --run-dir runs/smoke --max-steps 200
    gafet train --config ffhq-256 --data cache-256 --run-dir runs/ffhq --gpus 8
    torchrun --nproc_per_node 8 -m training --config ffhq-256 --data cache-256 --run-dir runs/ffhq
    gafet train --run-dir runs/ffhq --data cache-256 --resume --max-minutes 600

The run directory holds ``checkpoints/step-*.safetensors`` (the whole run, written atomically,
newest ``--keep`` kept; each opens in the Studio and in ``gafet edit --model``, which use G_ema),
``generator.safetensors`` (G_ema alone, rewritten at every checkpoint: the file to copy into the
Studio's models folder), ``metrics.jsonl`` (one line per logged step naming every loss term),
``evaluation.jsonl`` and ``tensorboard/`` (``tensorboard --logdir RUN``), and ``run.json`` (what
was run).

* ``--resume`` continues the newest readable checkpoint exactly (weights, optimisers, EMA, step,
  RNG states, data position); options that change the training config must then match the run's.
* SIGTERM / SIGINT (Ctrl-C) write a checkpoint and exit 0; a second Ctrl-C stops at once.
  ``--max-minutes`` stops on a time budget, ``--max-steps`` after that many steps in total.
* Missing ImageNet VGG weights stop the run before step 1 with the files, where to get them and
  the import command (exit code 5). ``--perceptual random`` trains without them: logged loudly,
  recorded in every checkpoint's metadata (``perceptual_random``), never the paper's setting.
* On the CPU torch uses one thread unless ``--threads N`` (two spinning threads on a shared 2-core
  machine were measured 3-5x slower, notes/training.md §1.7).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from core.errors import EXIT_ERROR, EXIT_OUTPUT_EXISTS, GafetError
from core.io.atomic import atomic_write_text
from core.io.json_file import read_json_file
from training.config import (
    ABLATIONS,
    TRAINING_CONFIGS,
    TrainingConfig,
    TrainingConfigError,
    training_config,
    training_config_from_dict,
    training_config_to_dict,
)

if TYPE_CHECKING:  # training.distributed imports torch: loaded only when a run starts (fast --help)
    from training.distributed import DistContext

__all__ = ["add_arguments", "main", "run"]

RUN_INFO = "run.json"
LOCK_NAME = ".lock"


class RunDirError(GafetError):
    """The run directory cannot be used as asked (another run is in it, nothing to resume, in use)."""


class RunExistsError(RunDirError):
    exit_code = EXIT_OUTPUT_EXISTS


_DEEXPRESSION = "deexpression"  # training.data.neutraliser.DEEXPRESSION (that module imports torch)


class NeutraliserOption(argparse.Action):
    """``--neutraliser warp | none | deexpression CKPT``: sets ``neutraliser`` (the name) and
    ``neutraliser_model`` (the checkpoint, or None)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        words = [values] if isinstance(values, str) else list(values or [])
        name = words[0] if words else ""
        if name == _DEEXPRESSION and len(words) != 2:
            parser.error("--neutraliser deexpression needs the model: --neutraliser deexpression CKPT")
        if name != _DEEXPRESSION and len(words) != 1:
            parser.error(f"--neutraliser {name} takes no further argument")
        setattr(namespace, self.dest, name)
        namespace.neutraliser_model = words[1] if name == _DEEXPRESSION else None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gafet train`` / ``python -m training``."""
    p.add_argument("--config", metavar="NAME|FILE",
                   help=f"a training config ({', '.join(TRAINING_CONFIGS)}) or a JSON file of one "
                        f"(required for a new run; with --resume, the run's own)")
    p.add_argument("--data", required=True, type=Path, metavar="CACHE",
                   help="face cache made by `gafet prepare`")
    p.add_argument("--run-dir", required=True, type=Path, metavar="DIR",
                   help="where checkpoints, logs and TensorBoard files go")
    p.add_argument("--resume", action="store_true", help="continue the newest checkpoint in DIR")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps in total")
    p.add_argument("--max-minutes", type=float, metavar="M", help="stop after M minutes of this session")
    p.add_argument("--perceptual", choices=("imagenet", "random"),
                   help="VGG weights of LPIPS and the contextual loss: the imported ImageNet files (the "
                        "paper; default) or seeded random weights (offline, NOT the paper's setting)")
    p.add_argument("--shape-model", choices=("au", "flame"),
                   help="face model measuring L_exp^shape (Eq. 2): the built-in AU model (default; the "
                        "offline stand-in) or your imported FLAME (the paper's; see the README on FLAME)")
    p.add_argument("--neutraliser", nargs="+", action=NeutraliserOption, metavar="NAME",
                   help="the source X_n: the cache's own neutraliser (default, e.g. warp), 'deexpression "
                        "CKPT' (a trained De-expression model; its X_n are stored beside the cache once), or "
                        "'none' = the 'w/o De-exp' ablation (the source is X itself)")
    p.add_argument("--ablation", action="append", default=[], choices=sorted(ABLATIONS), metavar="KEY",
                   help=f"switch a Table 3 part or a loss off (repeatable): {', '.join(ABLATIONS)}")
    p.add_argument("--seed", type=int, help="seed of the weights, the data order and every random choice")
    p.add_argument("--batch", type=int, metavar="B", help="global batch per step (default: the config's)")
    p.add_argument("--accumulation", type=int, metavar="A", help="micro-batches per rank per step")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16"),
                   help="auto (default): bf16 autocast on CUDA, float32 on the CPU")
    p.add_argument("--gpus", type=int, metavar="N", help="train on N CUDA GPUs of this machine (N processes)")
    p.add_argument("--device", metavar="DEV", help="cpu, cuda or cuda:N (default: CUDA when available)")
    p.add_argument("--threads", type=int, metavar="T", help="torch CPU threads (default 1)")
    p.add_argument("--workers", type=int, default=0, metavar="W",
                   help="data-loading worker processes (default 0: load in the training process)")
    p.add_argument("--checkpoint-every", type=int, default=1000, metavar="N",
                   help="steps between checkpoints (default 1000)")
    p.add_argument("--checkpoint-minutes", type=float, default=30.0, metavar="M",
                   help="also checkpoint when M minutes passed since the last one (default 30)")
    p.add_argument("--keep", type=int, default=3, metavar="K", help="checkpoints kept (default 3)")
    p.add_argument("--log-every", type=int, default=1, metavar="N", help="steps between metrics.jsonl lines")
    p.add_argument("--eval-data", type=Path, metavar="CACHE", help="held-out face cache for --eval-every")
    p.add_argument("--eval-every", type=int, metavar="N",
                   help="evaluate G_ema every N steps (L1/SSIM on pseudo-pairs, AED/AU-H)")
    p.add_argument("--eval-identity", action="store_true",
                   help="also the identity distance in evaluations (dlib; asset identity-dlib)")
    p.add_argument("--preview-every", type=int, metavar="N",
                   help="TensorBoard image grid (source | reference | geometry | output) every N steps")
    p.add_argument("--no-tensorboard", action="store_true", help="write no TensorBoard files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


# ---------------------------------------------------------------------------------------------
# Configuration


def _base_config(spec: str) -> TrainingConfig:
    if spec in TRAINING_CONFIGS:
        return training_config(spec)
    path = Path(spec)
    if path.suffix.lower() == ".json" or path.exists():
        raw = read_json_file(path, error=TrainingConfigError, label="Training config file", noun="config")
        try:
            return training_config_from_dict(raw)
        except TrainingConfigError as err:
            raise TrainingConfigError(f"Training config file {path}: {err}") from None
    return training_config(spec)  # raises, naming the known configs


def config_from_args(args: argparse.Namespace, base: TrainingConfig) -> TrainingConfig:
    """``base`` with the command line's overrides (ablations, perceptual, seed, batch, ...)."""
    cfg = base
    for key in args.ablation:
        cfg = cfg.with_ablation(key)
    changes: dict[str, Any] = {}
    for name in ("perceptual", "seed", "batch", "accumulation", "precision"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.neutraliser == "none" and cfg.pairs.use_de_expression:
        cfg = cfg.with_ablation("no-de-exp")
    if getattr(args, "shape_model", None) is not None:
        cfg = cfg.replace(expression=dataclasses.replace(cfg.expression, shape_model=args.shape_model))
    return cfg.replace(**changes) if changes else cfg


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def config_differences(a: TrainingConfig, b: TrainingConfig) -> list[str]:
    """``field: a != b`` for each differing (nested, dotted) field."""
    fa, fb = _flat(training_config_to_dict(a)), _flat(training_config_to_dict(b))
    keys = sorted(set(fa) | set(fb))
    return [f"{k}: {fa.get(k)!r} != {fb.get(k)!r}" for k in keys if fa.get(k) != fb.get(k)]


def _config_options_given(args: argparse.Namespace) -> bool:
    return bool(args.config or args.ablation or args.neutraliser == "none"
                or getattr(args, "shape_model", None) is not None or any(
        getattr(args, n) is not None for n in ("perceptual", "seed", "batch", "accumulation", "precision")))


# ---------------------------------------------------------------------------------------------
# The run directory


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run>/.lock`` so two trainers never share a run directory (POSIX; elsewhere a no-op)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / LOCK_NAME, "w")  # held (and locked) for the whole run
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunDirError(f"Another training run is using {run_dir}; wait for it to finish or choose "
                              f"another --run-dir.") from None
        yield
    finally:
        fh.close()


class _Stderr:
    """Loud notices for the person at the terminal (rank 0)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def banner(self, text: str) -> None:
        line = "!" * min(100, max(40, len(text) // 2))
        print(f"{line}\n{text}\n{line}", file=self.stream, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


# ---------------------------------------------------------------------------------------------
# One rank


def _install_stop_handlers(stop: Any) -> dict[int, Any]:  # noqa: ANN401 - signal handlers are untyped
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and stop.requested:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt  # a second Ctrl-C: stop at once
        stop.request("signal")

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread
            previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, h in previous.items():
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(sig, h)


def _run_rank(args: argparse.Namespace, ctx: DistContext, out: _Stderr) -> int:
    from training.data.dataset import FaceCacheDataset
    from training.evaluation import HeldOutEvaluator
    from training.feed import CacheFeed, check_cache
    from training.loop import LoopSettings, StopFlag, Stopped, train
    from training.objective import GafetObjective
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
    from training.state import CheckpointFolder, load_state, new_state, restore_rng

    if ctx.device.type == "cpu":
        configure_cpu_threads(args.threads)
    run_dir: Path = args.run_dir
    folder = CheckpointFolder(run_dir, keep=args.keep)
    settings = LoopSettings(max_steps=args.max_steps, max_minutes=args.max_minutes,
                            checkpoint_every=args.checkpoint_every,
                            checkpoint_minutes=args.checkpoint_minutes, keep_checkpoints=args.keep,
                            eval_every=args.eval_every, preview_every=args.preview_every)
    dataset = FaceCacheDataset(args.data)
    neutraliser = dataset.cache.settings.neutraliser
    if args.neutraliser not in (None, "none", "deexpression", neutraliser):
        raise GafetError(f"The face cache {args.data} was prepared with the '{neutraliser}' neutraliser; "
                         f"--neutraliser can be '{neutraliser}' (its X_n), 'deexpression CKPT' or 'none' "
                         f"(the 'w/o De-exp' ablation). Prepare another cache for another neutraliser.")
    if args.neutraliser == "deexpression":  # X_n of a De-expression model, computed once per cache
        from training.data.neutraliser import deexpression_cache

        dataset.cache = deexpression_cache(dataset.cache, args.neutraliser_model)
        neutraliser = dataset.cache.neutraliser_name

    resumed_from = None
    if args.resume:
        resumed_from = folder.latest()
        if resumed_from is None:
            raise RunDirError(f"There is no checkpoint to resume in {folder.root}; start the run without "
                              f"--resume.")
        loaded = load_state(resumed_from, device=ctx.device)
        state = loaded.state
        if _config_options_given(args):
            wanted = config_from_args(args, _base_config(args.config) if args.config else state.config)
            diff = config_differences(state.config, wanted)
            if diff:
                raise TrainingConfigError(
                    f"The run in {run_dir} was trained with another config; resume it without config "
                    f"options, or start a new run. Differences (run != options): {'; '.join(diff[:6])}.")
        if len(loaded.rng) == ctx.world_size:
            restore_rng(loaded.rng[ctx.rank])
        elif ctx.is_main:
            out.note(f"note: the run was saved by {len(loaded.rng)} process(es) and continues on "
                     f"{ctx.world_size}; the global batch stays the same, but the micro-batches are cut "
                     f"differently, so it will not repeat the original run bit for bit.")
        config = state.config
        check_cache(dataset, config)
        objective = GafetObjective.build(config, device=ctx.device)
    else:
        if not args.config:
            raise TrainingConfigError("A new run needs --config NAME (one of "
                                      f"{', '.join(TRAINING_CONFIGS)}) or a JSON file.")
        if folder.checkpoints():
            raise RunExistsError(f"{run_dir} already holds a training run; pass --resume to continue it, or "
                                 f"choose another --run-dir.")
        config = config_from_args(args, _base_config(args.config))
        check_cache(dataset, config)
        objective = GafetObjective.build(config, device=ctx.device)  # missing VGG weights: raises here
        state = new_state(config, device=ctx.device)
    run_facts = {**objective.metadata(), "neutraliser": "none" if not config.pairs.use_de_expression
                 else neutraliser, "data": str(Path(args.data).resolve()), "config_name": config.name,
                 "world_size": ctx.world_size}
    if not state.run:
        state.run = run_facts
    state.run.update({k: v for k, v in run_facts.items() if k in ("world_size", "data")})
    if ctx.is_main and objective.perceptual_is_random:
        out.banner(RANDOM_WARNING)

    feed = CacheFeed(dataset, config, ctx, workers=args.workers)
    evaluator = None
    if ctx.is_main and (args.eval_every or args.preview_every):
        eval_set = FaceCacheDataset(args.eval_data) if args.eval_data else dataset
        if args.eval_data is None and args.eval_every:
            out.note("note: no --eval-data given: evaluating on training faces (not a held-out set).")
        evaluator = HeldOutEvaluator(eval_set, feed.builder, fitter=objective.fitter,
                                     identity=args.eval_identity)

    sinks: list[Sink] = []
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        info = {"command": sys.argv, "config": training_config_to_dict(config), "run": state.run,
                "resumed_from": None if resumed_from is None else str(resumed_from)}
        atomic_write_text(run_dir / RUN_INFO, json.dumps(info, indent=1) + "\n")
        sinks.append(JsonlSink(run_dir, every=args.log_every))
        if args.no_tensorboard:
            pass
        elif tensorboard_available():
            sinks.append(TensorBoardSink(run_dir, every=args.log_every))
        else:
            out.note("note: the tensorboard package is not installed; only metrics.jsonl is written "
                     "(pip install tensorboard).")
        if not args.no_progress:
            sinks.append(ProgressSink())

    stop = StopFlag()
    previous = _install_stop_handlers(stop)
    last = None
    try:
        events = train(state, feed, objective, ctx=ctx, run_dir=run_dir, settings=settings, stop=stop,
                       evaluator=evaluator, resumed_from=resumed_from)
        for event in report(events, sinks):
            last = event
    finally:
        _restore_handlers(previous)
    if ctx.is_main and isinstance(last, Stopped):
        out.note(f"Stopped at step {last.step} ({last.reason.replace('_', ' ')}). Checkpoint: "
                 f"{last.checkpoint}. For the Studio: {run_dir / 'generator.safetensors'}.")
    return 0


def _run_here(args: argparse.Namespace) -> int:
    """This process's rank (a single process, or one rank of torchrun / --gpus)."""
    from training.distributed import init_distributed, shutdown

    ctx = init_distributed(args.device)
    try:
        with run_lock(args.run_dir) if ctx.is_main else contextlib.nullcontext():
            return _run_rank(args, ctx, _Stderr())
    finally:
        shutdown(ctx)


def _rank_entry(args: argparse.Namespace) -> None:
    """One process of ``--gpus N`` (started by :func:`training.distributed.spawn`)."""
    try:
        code = _run_here(args)
    except GafetError as err:
        print(f"gafet train: error: {err}", file=sys.stderr)
        code = int(getattr(err, "exit_code", EXIT_ERROR))
    sys.exit(code)


def run(args: argparse.Namespace) -> int:
    """Run ``gafet train`` with parsed ``args``: this process, or ``--gpus N`` processes."""
    from training.distributed import DistributedError, spawn

    if args.gpus is not None and args.gpus > 1 and "RANK" not in os.environ:
        import torch

        if not torch.cuda.is_available() or torch.cuda.device_count() < args.gpus:
            found = torch.cuda.device_count() if torch.cuda.is_available() else 0
            raise DistributedError(f"--gpus {args.gpus}: this machine has {found} CUDA GPU(s). Use torchrun "
                                   f"for several machines, or leave --gpus out to train on one device.")
        args.device = None  # each process takes cuda:<its rank>
        try:
            spawn(args.gpus, _rank_entry, (args,))
        except Exception as err:  # torch.multiprocessing.ProcessRaisedException / ProcessExitedException
            raise DistributedError(f"A training process failed: {err}".strip()) from None
        return 0
    if args.gpus is not None and args.gpus < 1:
        raise DistributedError(f"--gpus must be at least 1, got {args.gpus}.")
    if args.gpus == 1 and args.device is None:
        args.device = "cuda"
    return _run_here(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training",
                                description="Train GaFET; the same options as `gafet train`.")
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training ...``: the same options as ``gafet train``; errors as one line + exit code."""
    args = build_parser().parse_args(None if argv is None else list(argv))
    try:
        return run(args)
    except GafetError as err:
        print(f"gafet train: error: {err}", file=sys.stderr)
        return int(getattr(err, "exit_code", EXIT_ERROR))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
