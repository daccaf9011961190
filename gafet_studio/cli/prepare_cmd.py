"""``gafet prepare``: build the training face cache from folders of photos and videos.

    gafet prepare ffhq/ -o cache-256 --size 256
    gafet prepare clips/ -o cache-128 --size 128 --fps 10 --holdout clips/a.mp4:300:420

The options and the work live in :mod:`training.data.prepare` (its docstring has the cache
format, resume, duplicates, the report and the measured cost per image).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from training.data.prepare import add_arguments

    p = sub.add_parser(
        "prepare",
        help="detect, align, fit and neutralise faces of photos and videos into a training cache",
        description="Build a face cache for gafet train: per face an aligned crop, its mesh, fitted AUs, "
        "identity and pose, and its neutral version X_n. Resumable (rerun the same command after an "
        "interruption); skipped files are listed in CACHE/report.txt.",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.data.prepare import run as run_prepare

    return run_prepare(args)
