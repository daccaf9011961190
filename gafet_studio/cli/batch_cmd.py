"""``gafet batch``: a folder of source portraits x one reference photo or preset.

    gafet batch portraits/ --reference smile.jpg -o smiling/
    gafet batch portraits/ --preset surprise --alpha 0.7 --format .jpg -o out/
    gafet batch portraits/ --reference smile.jpg --model smiles.safetensors -o smiling/

Every regular file in SOURCE_DIR is edited (one output per file, same name, in OUT_DIR, which
is created if needed). Each file gets one progress line on stderr as it finishes ("[2/5] name ->
output", or "[3/5] name: failed: why"); each error is printed once, there. A file never stops
the batch: a project error (unreadable, no face, output exists) and any unexpected failure while
editing it are that file's failure, and the run goes on. The summary (how many were edited, which
failed) is always printed, also after Ctrl-C. Exit code: 0 when every file was edited; otherwise
the failures' common code (2 unreadable, 3 no face, 4 output exists) or 1 when they differ.

Problems with the options, the reference or the preset, the output folder or the model
(``--model``; exit code 5 when it is missing or bad) stop the run before any file is touched;
the options and the reference's header are checked before torch or any network loads. The
default editor is the built-in warp editor. Faces are numbered from 0, left to right.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import EXIT_ERROR, GafetError
from gafet_studio.cli.edit_cmd import (
    FACE_HELP,
    add_edit_options,
    add_model_options,
    add_reference_options,
    check_options,
    check_reference,
    editor_spec,
    prepare_reference,
)

if TYPE_CHECKING:
    from core.editing.batch import BatchItem


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="apply one reference's or preset's expression to a folder of portraits",
        description="Edit every photo in SOURCE_DIR with one reference photo or preset.",
    )
    p.add_argument("source_dir", type=Path, metavar="SOURCE_DIR", help="folder of portraits to edit")
    add_reference_options(p)
    add_edit_options(p)
    add_model_options(p)
    p.add_argument("--face", type=int, default=0, metavar="N",
                   help=f"which face of each source ({FACE_HELP}; default 0)")
    p.add_argument(
        "--format",
        dest="extension",
        default=None,
        choices=(".png", ".jpg", ".webp"),
        help="output format (default: the source's when it is PNG, JPEG or WebP, else PNG)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="OUT_DIR",
        help="folder for the results (created if needed)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    params = check_options(args)
    from core.editing.batch import BatchOptions, list_sources

    options = BatchOptions(
        face_index=args.face, extension=args.extension, quality=args.quality, overwrite=args.overwrite
    )
    sources = list_sources(args.source_dir)
    if not sources:
        raise GafetError(f"The folder '{args.source_dir}' has no files to edit.")
    out_dir: Path = args.output
    if out_dir.exists() and not out_dir.is_dir():
        raise GafetError(f"'{out_dir}' exists and is not a folder.")
    preset = check_reference(args)

    # Validated: from here on the heavy parts load.
    from core.editing.batch import run_batch
    from core.editing.pipeline import EditPipeline
    from core.editing.spec import build_editor

    editor = build_editor(editor_spec(args))  # before any photo is analysed: a bad model fails fast
    pipeline = EditPipeline(editor=editor, crop_size=args.crop_size)
    reference = prepare_reference(pipeline, args, preset)
    out_dir.mkdir(parents=True, exist_ok=True)
    protect = (args.reference,) if args.reference is not None else ()
    items = run_batch(pipeline=pipeline, sources=sources, reference=reference, params=params,
                      out_dir=out_dir, options=options, protect=protect)
    done: list[BatchItem] = []
    failed: list[BatchItem] = []
    width = len(str(len(sources)))
    try:
        for n, item in enumerate(items, 1):
            head = f"[{n:{width}d}/{len(sources)}] {item.source.name}"
            if item.ok:
                done.append(item)
                note = " (transparency dropped: JPEG has none)" if item.alpha_dropped else ""
                print(f"{head} -> {item.output}{note}", file=sys.stderr, flush=True)
            else:
                failed.append(item)
                print(f"{head}: failed: {item.error}", file=sys.stderr, flush=True)
    finally:  # the summary, also when interrupted
        _summary(len(sources), done, failed, out_dir)
    if not failed:
        return 0
    codes = {getattr(item.error, "exit_code", EXIT_ERROR) for item in failed}
    return codes.pop() if len(codes) == 1 else EXIT_ERROR


def _summary(total: int, done: list[BatchItem], failed: list[BatchItem], out_dir: Path) -> None:
    """The count edited ("N of M photos edited into OUT") on stdout; on stderr the failed files'
    names (their errors were printed on their progress lines) and how many were not processed."""
    print(f"{len(done)} of {total} photos edited into '{out_dir}'.", flush=True)
    if failed:
        print(f"{len(failed)} failed: {', '.join(item.source.name for item in failed)}", file=sys.stderr)
    left = total - len(done) - len(failed)
    if left:
        print(f"{left} not processed (interrupted).", file=sys.stderr)
