"""``gafet batch``: a folder of source portraits x one reference photo or preset.

    gafet batch portraits/ --reference smile.jpg -o smiling/
    gafet batch portraits/ --preset surprise --alpha 0.7 --format .jpg -o out/
    gafet batch portraits/ --reference smile.jpg --model smiles.safetensors -o smiling/

Every regular file in SOURCE_DIR is edited (one output per file, same name, in OUT_DIR, which
is created if needed). Bad files (unreadable, no face, output exists) are reported and skipped;
a summary lists each failure. Exit code: 0 when every file was edited; otherwise the failures'
common code (2 unreadable, 3 no face, 4 output exists) or 1 when they differ. Problems with the
reference, the model (``--model``, loaded before any photo is analysed; exit code 5 when it is
missing or bad) or the options stop the run before any file is touched. The default editor is
the built-in warp editor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from core.errors import EXIT_ERROR, GafetError
from gafet_studio.cli.edit_cmd import (
    add_edit_options,
    add_model_options,
    add_reference_options,
    edit_params,
    editor_spec,
    prepare_reference,
)


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
    p.add_argument("--face", type=int, default=0, metavar="N", help="which face of each source, 0 = leftmost")
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
    from core.editing.batch import BatchOptions, list_sources, run_batch
    from core.editing.pipeline import EditPipeline

    params = edit_params(args)
    options = BatchOptions(
        face_index=args.face, extension=args.extension, quality=args.quality, overwrite=args.overwrite
    )
    sources = list_sources(args.source_dir)
    if not sources:
        raise GafetError(f"The folder '{args.source_dir}' has no files to edit.")
    out_dir: Path = args.output
    if out_dir.exists() and not out_dir.is_dir():
        raise GafetError(f"'{out_dir}' exists and is not a folder.")
    from core.editing.spec import build_editor

    editor = build_editor(editor_spec(args))  # before any photo is analysed: a bad model fails fast
    pipeline = EditPipeline(editor=editor, crop_size=args.crop_size)
    reference = prepare_reference(pipeline, args)
    out_dir.mkdir(parents=True, exist_ok=True)
    protect = (args.reference,) if args.reference is not None else ()

    failed = []
    done = 0
    items = run_batch(
        pipeline=pipeline,
        sources=sources,
        reference=reference,
        params=params,
        out_dir=out_dir,
        options=options,
        protect=protect,
    )
    with tqdm(items, total=len(sources), desc="batch", unit="photo", file=sys.stderr, disable=None) as bar:
        for item in bar:
            if item.ok:
                done += 1
            else:
                failed.append(item)
                bar.write(f"{item.source.name}: {item.error}", file=sys.stderr)
    print(f"{done} of {len(sources)} photos edited into '{out_dir}'.")
    if not failed:
        return 0
    print(f"{len(failed)} failed:", file=sys.stderr)
    for item in failed:
        print(f"  {item.source.name}: {item.error}", file=sys.stderr)
    codes = {getattr(item.error, "exit_code", EXIT_ERROR) for item in failed}
    return codes.pop() if len(codes) == 1 else EXIT_ERROR
