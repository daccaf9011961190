"""``gafet train``: train GaFET on a face cache (``gafet prepare``), on the CPU or one or many GPUs.

    gafet train --config cpu-smoke --data cache-64 --run-dir runs/smoke --max-steps 200 --perceptual random
    gafet train --config ffhq-256 --data cache-256 --run-dir runs/ffhq --gpus 8

The options and the run live in :mod:`training.cli` (its docstring lists what the run directory
holds, resume, signals and the perceptual weights).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from training.cli import add_arguments

    p = sub.add_parser(
        "train",
        help="train GaFET on a face cache; its checkpoints open in the Studio and in gafet edit --model",
        description="Train GaFET (paper §3.5) on a face cache made by gafet prepare. The run directory "
        "holds checkpoints (the whole run, resumable with --resume), generator.safetensors (G_ema, for the "
        "Studio), metrics.jsonl and TensorBoard files. SIGTERM / Ctrl-C save a checkpoint and stop.",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.cli import run as run_train

    return run_train(args)
