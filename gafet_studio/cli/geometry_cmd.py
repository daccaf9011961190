"""``gafet geometry SOURCE [REFERENCE] -o DIR``: the 3D side of an expression transfer, as files.

Loads the photos, finds the faces, fits the built-in AU model to each mesh, combines (source
identity + source pose + reference expression), interpolates by ``--alpha`` (and ``--region``
weights), and writes into DIR:

* ``{source,reference,target}_shaded.png``: grey-shaded renders of each mesh over a black
  background, at the photo's resolution and position (target: in the source photo); the
  triangles spanning the mouth and eye openings are left out, so open mouths show as holes;
* ``{source,reference,target}_normals.png``: normal maps (the geometry image of paper §3.2);
* ``flow.png``: the backward flow target → source in HSV colours (hue = direction,
  brightness = magnitude, scaled to the largest displacement; black = no motion);
* ``{source,reference,target}.obj``: the meshes in photo pixels, y up (viewer frame);
* ``summary.json``: fitted AUs and head pose of source, reference and target.

Instead of a reference photo, ``--preset NAME`` takes a built-in or a preset file's AUs; ``--au
AU12=0.8`` (repeatable) overrides single AUs of the target expression. With neither, the target
is the source's own expression (with the ``--au`` overrides): the source's fitted geometry alone.

Every option, the photos' headers and DIR are checked before torch loads. DIR is created; an
existing DIR that is not empty is refused (exit code 4) unless ``--overwrite`` is given. Files
are written atomically with the usual permissions of a new file (0o666 minus the umask).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.editing.params import ALPHA_MAX, EditParams, InvalidEditParamsError
from core.errors import EXIT_OUTPUT_EXISTS, GafetError
from core.geometry.presets import BUILTIN_PRESETS

if TYPE_CHECKING:
    import numpy as np
    import torch

    from core.face.analyzer import FaceAnalyzer
    from core.geometry.au.fit import AUFitter
    from core.geometry.face_model import FaceParams
    from core.geometry.presets import ExpressionPreset

PIXEL_CENTRE = 0.5  # landmarks: pixel centres at integers (OpenCV); renderer: at +0.5


class GeometryArgumentError(GafetError):
    """A command-line value of ``gafet geometry`` is invalid."""


class GeometryOutputExistsError(GafetError):
    """The output folder exists and holds files; ``--overwrite`` was not given."""

    exit_code = EXIT_OUTPUT_EXISTS

DESCRIPTION = """\
Fit the built-in 3D face model to the source (and to the reference photo, or take a preset's
expression), combine them (source identity and pose, reference expression), interpolate by
--alpha and the --region weights, and write into DIR:

  source/reference/target_shaded.png   grey-shaded meshes at the photo's size and position
  source/reference/target_normals.png  normal maps
  flow.png                             the backward flow target -> source (hue = direction)
  source/reference/target.obj          the meshes in photo pixels, y up
  summary.json                         fitted AUs and head pose of each

Without a REFERENCE or --preset, the target is the source's own expression (with any --au
overrides). Faces are numbered from 0, left to right. DIR is created; an existing DIR with
files in it is refused unless --overwrite is given.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "geometry",
        help="fit, combine and render the 3D geometry of an expression transfer",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", type=Path, help="the portrait whose expression changes")
    p.add_argument("reference", type=Path, nargs="?", help="the photo whose expression is taken")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--alpha", type=float, default=1.0, help=f"intensity in [0, {ALPHA_MAX}] (default 1)")
    p.add_argument("--face", type=int, default=0, metavar="N",
                   help="face of the source, numbered from 0 left to right (default 0)")
    p.add_argument("--reference-face", type=int, default=0, metavar="N",
                   help="face of the reference, numbered from 0 left to right (default 0)")
    p.add_argument(
        "--preset",
        metavar="NAME|FILE",
        help=f"use a preset expression instead of a reference photo ({', '.join(BUILTIN_PRESETS)} "
        "or a .json file)",
    )
    p.add_argument("--au", action="append", default=[], metavar="AUxx=V", help="override one AU (repeatable)")
    p.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="NAME=W",
        help="region weight in [0, 1.5]: brows, eyes, nose, mouth, jaw, cheeks (repeatable)",
    )
    p.add_argument("--overwrite", action="store_true", help="write into DIR even if it holds files")
    p.set_defaults(func=run)


def _pairs(items: list[str], what: str) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise GeometryArgumentError(f"--{what} {item!r}: expected NAME=NUMBER") from None
    return out


def _preset(arg: str) -> ExpressionPreset:
    from core.geometry.presets import builtin_preset, load_preset

    if arg in BUILTIN_PRESETS:
        return builtin_preset(arg)
    if not Path(arg).is_file():
        names = ", ".join(BUILTIN_PRESETS)
        raise GeometryArgumentError(f"--preset {arg}: neither a built-in preset ({names}) nor a preset file")
    return load_preset(arg)


class _Mesh:
    """A fitted face in its photo."""

    def __init__(self, path: Path, face_index: int, *, fitter: AUFitter, analyzer: FaceAnalyzer) -> None:
        import numpy as np

        from core.face.errors import FaceIndexError, NoFaceError
        from core.io import load_photo

        self.photo = load_photo(path)
        try:
            face = analyzer.analyze_one(np.ascontiguousarray(self.photo.rgb), face_index)
        except FaceIndexError as err:
            raise FaceIndexError(f"'{path}': {err}") from None
        except NoFaceError:
            raise NoFaceError(f"No face was found in '{path}'.") from None
        self.landmarks = face.landmarks
        self.params: FaceParams = fitter.fit(face.landmarks).params

    @property
    def size(self) -> tuple[int, int]:
        return int(self.photo.rgb.shape[0]), int(self.photo.rgb.shape[1])  # (H, W)


def _render(
    vertices: torch.Tensor, faces: torch.Tensor, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """vertices (1, V, 3) photo px → (shaded RGB, normal-map RGB), each (H, W, 3) uint8."""
    import numpy as np
    import torch

    from core.render import normal_map, rasterize, shade_grey

    screen = vertices + vertices.new_tensor([PIXEL_CENTRE, PIXEL_CENTRE, 0.0])
    frags = rasterize(screen, faces, size)
    grey = shade_grey(frags, faces, screen)[0, ..., 0]
    normals = normal_map(frags, faces, screen)[0]
    to8 = lambda t: (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()  # noqa: E731
    return np.repeat(to8(grey)[..., None], 3, axis=2), to8(normals)


def flow_to_rgb(displacement: np.ndarray) -> np.ndarray:
    """(H, W, 2) px displacement → (H, W, 3) uint8 HSV colouring (hue = direction, value =
    magnitude / max magnitude)."""
    import cv2
    import numpy as np

    dx, dy = displacement[..., 0].astype(np.float32), displacement[..., 1].astype(np.float32)
    mag, ang = cv2.cartToPolar(dx, dy, angleInDegrees=True)
    top = float(mag.max())
    hsv = np.zeros((*mag.shape, 3), np.uint8)
    hsv[..., 0] = (ang / 2).astype(np.uint8)  # OpenCV hue: 0..180
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / top * 255, 0, 255).astype(np.uint8) if top > 0 else 0
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _check_arguments(args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    """The --au overrides and --region weights, with every option checked (no torch needed)."""
    if args.reference is not None and args.preset is not None:
        raise GeometryArgumentError("give either a REFERENCE photo or --preset, not both")
    if not 0 <= args.alpha <= ALPHA_MAX:
        raise GeometryArgumentError(f"--alpha must be between 0 and {ALPHA_MAX:g}, got {args.alpha:g}")
    for option in ("face", "reference_face"):
        if getattr(args, option) < 0:
            raise GeometryArgumentError(f"--{option.replace('_', '-')} must be 0 or more (faces are "
                                        f"numbered from 0, left to right), got {getattr(args, option)}")
    overrides = _pairs(args.au, "au")
    regions = _pairs(args.region, "region")
    for option, values, field in (("au", overrides, "au_overrides"), ("region", regions, "regions")):
        try:
            EditParams(**{field: tuple(values.items())})
        except InvalidEditParamsError as err:
            raise GeometryArgumentError(f"--{option}: {err}") from None
    return overrides, regions


def _check_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise GeometryArgumentError(f"'{out}' exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise GeometryOutputExistsError(
            f"The folder '{out}' already exists and holds files; choose another folder or give --overwrite "
            "to replace the files gafet geometry writes there.")


def run(args: argparse.Namespace) -> int:
    overrides, regions = _check_arguments(args)
    out: Path = args.output
    _check_output(out, args.overwrite)
    from core.io.probe import probe_photo

    for photo in (args.source, args.reference):
        if photo is not None:
            probe_photo(photo)
    preset = _preset(args.preset) if args.preset is not None else None

    # Validated: from here on torch and the networks load.
    import torch

    from core.face.analyzer import FaceAnalyzer
    from core.geometry.au.fit import default_fitter
    from core.geometry.combine import combine, override_expression, with_expression
    from core.geometry.interpolate import interpolate_vertices, vertex_alpha
    from core.geometry.obj_io import photo_to_viewer, write_obj
    from core.geometry.summary import summarize
    from core.io import save_image
    from core.io.atomic import atomic_write_text
    from core.render import backward_flow

    fitter = default_fitter()
    model = fitter.model
    try:
        alpha_v = vertex_alpha(model, alpha=args.alpha, region_weights=regions)
    except ValueError as err:
        raise GeometryArgumentError(str(err)) from None

    analyzer = FaceAnalyzer()
    source = _Mesh(args.source, args.face, fitter=fitter, analyzer=analyzer)
    reference = (
        _Mesh(args.reference, args.reference_face, fitter=fitter, analyzer=analyzer)
        if args.reference
        else None
    )
    if reference is not None:
        target = combine(source=source.params, reference=reference.params)
    elif preset is not None:
        target = with_expression(source.params, torch.tensor(preset.vector(model.au_names)))
    else:
        target = source.params  # the source's own expression
    try:
        target = target.replace(expression=override_expression(model, target.expression, overrides))
    except ValueError as err:
        raise GeometryArgumentError(str(err)) from None

    faces = model.faces
    surface = faces[~(model.mouth_interior_faces | model.eye_interior_faces)]  # openings left open
    with torch.no_grad():
        v_src = model.vertices_of(source.params)
        v_tgt = interpolate_vertices(v_src, model.vertices_of(target), alpha_v)
        flow = backward_flow(
            v_tgt + v_tgt.new_tensor([PIXEL_CENTRE, PIXEL_CENTRE, 0.0]),
            v_src[..., :2] + PIXEL_CENTRE,
            faces,
            source.size,
        )

    out.mkdir(parents=True, exist_ok=True)
    protect = [args.source] + ([args.reference] if args.reference else [])
    meshes = {"source": (v_src, source.size), "target": (v_tgt, source.size)}
    if reference is not None:
        meshes["reference"] = (model.vertices_of(reference.params), reference.size)
    written = []
    for name, (verts, size) in meshes.items():
        with torch.no_grad():
            shaded, normals = _render(verts, surface, size)
        written.append(save_image(out / f"{name}_shaded.png", shaded, overwrite=True, protect=protect))
        written.append(save_image(out / f"{name}_normals.png", normals, overwrite=True, protect=protect))
        written.append(
            write_obj(
                out / f"{name}.obj",
                photo_to_viewer(verts[0].numpy()),
                faces.numpy(),
                comment=f"GaFET Studio {name} mesh: MediaPipe topology, photo pixels, y up",
            )
        )
    written.append(
        save_image(
            out / "flow.png", flow_to_rgb(flow.displacement[0].numpy()), overwrite=True, protect=protect
        )
    )
    summary = {
        "source": summarize(source.params, model=model)[0].to_json(),
        "target": summarize(target, model=model)[0].to_json(),
        "alpha": args.alpha,
        "regions": regions,
        "max_flow_px": round(float(flow.displacement.norm(dim=-1).max()), 2),
    }
    if reference is not None:
        summary["reference"] = summarize(reference.params, model=model)[0].to_json()
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    written.append(out / "summary.json")
    for path in written:
        print(path)
    print(f"max flow {summary['max_flow_px']} px", file=sys.stderr)
    return 0
