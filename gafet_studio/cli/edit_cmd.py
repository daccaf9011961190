"""``gafet edit``: put a reference photo's (or a preset's) expression on a source portrait.

    gafet edit --source me.jpg --reference smile.jpg -o me_smiling.jpg
    gafet edit -s me.jpg --preset happy --alpha 0.6 --region mouth=1.2,eyes=0.5 --au AU12=0.8 -o out.png
    gafet edit -s me.jpg -r smile.jpg --model smiles -o out.png       # a GaFET checkpoint

The editor is the built-in warp editor unless ``--model`` names a GaFET checkpoint (a
``.safetensors`` file, or the name of one in the models folder ``<data home>/models``).

Order of work: every option, the output path and each input photo's header (:func:`validate_inputs`)
are checked first, without importing torch or loading a network, so a refusal costs a fraction
of a second and a few tens of MB; then the editor (a missing or bad model: exit code 5) and the
face networks load, and only then are the photos decoded.

Faces are numbered from 0, left to right by the centre of their box (``--face``,
``--reference-face``; the same numbers ``gafet analyze`` prints and the Studio shows).

Transparency: an RGBA source keeps its alpha in a .png or .webp output (the edited colours under
the source's alpha); a .jpg output cannot hold it, and a one-line note says it was dropped.

Exit codes (core.errors): 0 done, 1 other error (bad arguments), 2 an input could not be read,
3 no face (or not the requested face), 4 the output exists (without --overwrite) or is an
input, 5 a needed asset or the model is missing or bad. The output is written atomically, at the source's full
resolution, with its colour profile and EXIF; inputs are never overwritten.

Shared with ``gafet batch``: :func:`add_edit_options`, :func:`add_model_options`,
:func:`check_options`, :func:`check_output`, :func:`check_reference`, :func:`editor_spec`,
:func:`prepare_reference`, :func:`keep_alpha`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.editing.params import EditParams, InvalidEditParamsError
from core.errors import GafetError

if TYPE_CHECKING:
    from core.editing.spec import EditorSpec
    from core.io import Photo

OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
ALPHA_SUFFIXES = (".png", ".webp")  # output formats that hold transparency
DEVICES = ("auto", "cpu", "cuda")
CROP_SIZE_MIN, CROP_SIZE_MAX = 64, 2048  # EditPipeline's bounds, checked here before torch loads
FACE_HELP = "0 = the leftmost; faces are numbered from 0, left to right"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "edit",
        help="transfer a reference photo's or a preset's expression onto a portrait",
        description="Transfer a reference photo's (or a preset's) facial expression onto "
        "a source portrait and save it at the source's full resolution. Faces are numbered from 0, "
        "left to right, as gafet analyze prints them. A source with transparency keeps it in a .png "
        "or .webp output (a .jpg cannot hold it; a note says so).",
    )
    p.add_argument("-s", "--source", required=True, type=Path, help="the portrait to edit")
    add_reference_options(p)
    add_edit_options(p)
    add_model_options(p)
    p.add_argument(
        "--face",
        type=int,
        default=0,
        metavar="N",
        help=f"which face of the source to edit ({FACE_HELP}; default 0)",
    )
    p.add_argument("-o", "--output", required=True, type=Path, help="output file (.png, .jpg or .webp)")
    p.set_defaults(func=run)


def add_reference_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("-r", "--reference", type=Path, help="photo whose expression to transfer")
    g.add_argument("--preset", metavar="NAME", help="an expression preset: a bundled name or a .json file")
    p.add_argument(
        "--reference-face",
        type=int,
        default=0,
        metavar="N",
        help=f"which face of the reference photo ({FACE_HELP}; default 0)",
    )


def add_edit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--alpha",
        type=float,
        default=1.0,
        metavar="A",
        help="intensity: 0 = the source's expression, 1 = the reference's, up to 1.5 (default 1)",
    )
    p.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="NAME=W[,NAME=W...]",
        help="per-region intensity weights in [0, 1.5], e.g. mouth=1,eyes=0.5 "
        "(regions: brows, eyes, nose, mouth, jaw, cheeks)",
    )
    p.add_argument(
        "--au",
        action="append",
        default=[],
        metavar="AUxx=V",
        nargs="+",
        help="absolute target intensity in [0, 1] of an action unit, e.g. AU12=0.8",
    )
    p.add_argument(
        "--crop-size", type=int, default=512, metavar="R",
        help=f"aligned crop side in px, {CROP_SIZE_MIN}..{CROP_SIZE_MAX} (default 512)"
    )
    p.add_argument(
        "--quality", type=int, default=95, metavar="Q", help="JPEG / WebP quality 1..100 (default 95)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        metavar="CKPT",
        default=None,
        help="a GaFET checkpoint: a .safetensors file, or the name of one in the models folder "
        "(<data home>/models). Default: the built-in warp editor (no trained weights)",
    )
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the GaFET model runs: auto = CUDA when available, else CPU (default auto; "
        "the warp editor always runs on the CPU)",
    )


def editor_spec(args: argparse.Namespace) -> EditorSpec:
    """The :class:`EditorSpec` of --model / --device: the warp editor, or a GaFET checkpoint (found
    as a file or by name in the models folder; raises CheckpointNotFoundError, exit code 5)."""
    from core.editing.spec import EditorSpec

    if args.model is None:
        return EditorSpec.warp()
    from core.editing.gafet import registry

    device = None if args.device == "auto" else args.device
    return EditorSpec.gafet(registry.find_checkpoint(args.model), device=device)


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for chunk in values:
        for item in filter(None, (s.strip() for s in chunk.split(","))):
            name, sep, value = item.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise InvalidEditParamsError(f"Cannot read {what} '{item}'; write it as NAME=VALUE.")
            out.append((name.strip(), value.strip()))
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidEditParamsError(f"{what} must be a number, got '{text}'.") from None


def edit_params(args: argparse.Namespace) -> EditParams:
    """EditParams from --alpha, --region and --au (raises InvalidEditParamsError, exit 1)."""
    regions = [
        (n, _number(v, f"The weight of region '{n}'")) for n, v in _pairs(args.region, "the region weight")
    ]
    flat_aus = [a for group in args.au for a in (group if isinstance(group, list) else [group])]
    aus = [(n, _number(v, f"The intensity of {n}")) for n, v in _pairs(flat_aus, "the AU value")]
    return EditParams(alpha=args.alpha, regions=tuple(regions), au_overrides=tuple(aus))


def load_preset(name: str) -> Any:
    """An expression preset: a .json file, a built-in name or one of the user's saved presets
    (:func:`core.geometry.presets.find_preset`)."""
    from core.geometry import presets

    return presets.find_preset(name)


def prepare_reference(pipeline: Any, args: argparse.Namespace, preset: Any = None) -> Any:
    """The PreparedReference for --reference (a photo) or --preset (``preset``: the preset
    :func:`check_reference` already read, else it is read here)."""
    from core.io import load_photo

    if args.preset is not None:
        return pipeline.prepare_preset(preset if preset is not None else load_preset(args.preset))
    return pipeline.prepare_reference(load_photo(args.reference), face_index=args.reference_face)


def check_output(path: Path, *, overwrite: bool, inputs: list[Path]) -> None:
    """Refuse early (before any heavy work) an output that exists, is an input, or has no image suffix."""
    from core.io.errors import OutputExistsError, OutputIsInputError

    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise GafetError(f"Cannot tell the format of '{path}'; end the name with .png, .jpg or .webp.")
    if path.is_dir():
        raise GafetError(f"'{path}' is a folder; give a file name ending in .png, .jpg or .webp.")
    if not path.parent.is_dir():
        raise GafetError(f"Cannot write '{path}': the folder '{path.parent}' does not exist.")
    for src in inputs:
        if src.exists() and path.exists() and path.resolve() == src.resolve():
            raise OutputIsInputError(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)


def check_options(args: argparse.Namespace) -> EditParams:
    """Every option value shared by edit and batch, checked without importing torch.

    Returns the EditParams of --alpha / --region / --au; raises a GafetError (exit 1) naming the
    option for a value out of range."""
    params = edit_params(args)
    if not 1 <= args.quality <= 100:
        raise GafetError(f"--quality must be between 1 and 100, got {args.quality}.")
    if not CROP_SIZE_MIN <= args.crop_size <= CROP_SIZE_MAX:
        raise GafetError(f"--crop-size must be between {CROP_SIZE_MIN} and {CROP_SIZE_MAX} px, "
                         f"got {args.crop_size}.")
    for option in ("face", "reference_face"):
        if getattr(args, option, 0) < 0:
            raise GafetError(f"--{option.replace('_', '-')} must be 0 or more ({FACE_HELP}), "
                             f"got {getattr(args, option)}.")
    return params


def check_reference(args: argparse.Namespace) -> Any:
    """The reference side, checked cheaply: the reference photo's header, or the preset itself
    (read and validated; returned so it is not read twice). Returns the preset or None."""
    from core.io.probe import probe_photo

    if args.preset is not None:
        return load_preset(args.preset)
    probe_photo(args.reference)
    return None


def keep_alpha(photo: Photo, output: Path) -> Any:
    """The alpha to save with ``photo``'s edit into ``output``: the source's alpha for a .png / .webp
    output, else None (with a one-line note on stderr when a .jpg output drops it)."""
    if photo.alpha is None:
        return None
    if output.suffix.lower() in ALPHA_SUFFIXES:
        return photo.alpha
    print(f"note: '{photo.source_path.name}' has transparency; a JPEG cannot hold it, so it was dropped "
          f"from '{output.name}' (write .png or .webp to keep it).", file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    params = check_options(args)
    from core.io.probe import probe_photo

    inputs = [args.source] + ([args.reference] if args.reference is not None else [])
    check_output(args.output, overwrite=args.overwrite, inputs=inputs)
    probe_photo(args.source)
    preset = check_reference(args)

    # Validated: from here on the heavy parts load.
    from tqdm import tqdm

    from core.editing.pipeline import EditPipeline
    from core.editing.spec import build_editor
    from core.io import load_photo, save_image

    with tqdm(total=4, desc="edit", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
        bar.set_postfix_str("loading")
        editor = build_editor(editor_spec(args))  # before the photos are decoded: a bad model fails fast
        photo = load_photo(args.source)
        pipeline = EditPipeline(editor=editor, crop_size=args.crop_size)
        bar.update()
        bar.set_postfix_str("analysing")
        source = pipeline.prepare_source(photo, face_index=args.face)
        reference = prepare_reference(pipeline, args, preset)
        bar.update()
        bar.set_postfix_str("rendering")
        result = pipeline.render(source, reference, params, full_resolution=True)
        bar.update()
        bar.set_postfix_str("saving")
        written = save_image(
            args.output,
            result.image,
            alpha=keep_alpha(photo, args.output),
            icc_profile=photo.icc_profile,
            exif=photo.exif,
            quality=args.quality,
            overwrite=args.overwrite,
            protect=inputs,
        )
        bar.update()
    print(written)
    return 0
