"""``gafet analyze PHOTO... [--json] [--landmarks] [--overlay OUT.png]``: faces, fitted AUs and pose.

By default a short summary per face (box, scores, head pose and the strongest action units);
``--landmarks`` adds the 468 mesh landmarks to the text, and ``--json`` prints everything (the
landmarks and all 20 AUs included) as one JSON document. Faces are numbered from 0, left to
right by the centre of their box: the numbers ``gafet edit --face`` and the Studio use.

Every photo's header is checked (:func:`core.io.probe.probe_photo`) and the overlay paths are
checked before the face networks load: a run whose photos are all unreadable loads no network.

Exit codes (core.errors): 0 every photo had a face; 2 a photo could not be read; 3 a photo was
read but has no face (also said on stderr, in --json mode too); 4 an overlay file exists (without
--overwrite). With several photos, every photo is still reported and the first failing code wins.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import EXIT_NO_FACE, GafetError

if TYPE_CHECKING:
    import numpy as np

    from core.face.types import Face

SUMMARY_AUS = 6  # the text summary lists at most this many AUs ...
SUMMARY_AU_MIN = 0.1  # ... of at least this intensity, strongest first


@dataclass(frozen=True)
class PhotoReport:
    path: str
    width: int
    height: int
    faces: list[dict]  # JSON-ready, one per face
    timings_ms: dict[str, float]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="find faces: a summary per face (boxes, scores, fitted AUs and pose)",
        description="Find the faces in photos and print a short summary per face: box, detection "
        "score, head pose and the strongest fitted action units. Faces are numbered from 0, left to "
        "right (the numbers gafet edit --face uses).",
    )
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document instead of text (with the 468 landmarks and all AUs)")
    p.add_argument("--landmarks", action="store_true", help="also print the 468 mesh landmarks (x y z px)")
    p.add_argument(
        "--overlay",
        type=Path,
        metavar="OUT.png",
        help="write the photo with boxes and landmarks drawn (with several photos: OUT-<name>.png)",
    )
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--no-fit", action="store_true", help="skip fitting AUs and pose")
    p.add_argument("--overwrite", action="store_true", help="replace an existing overlay file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.io.probe import probe_photo

    overlays = _check_overlays(args)
    reports: list[PhotoReport | dict] = []
    code = 0
    readable: list[Path] = []
    for path in args.photos:  # headers first: an unreadable photo is refused before any network loads
        try:
            probe_photo(path)
            readable.append(path)
        except GafetError as err:
            code = code or _refuse(reports, path, err)
    if not readable:
        _print_json(args, reports)
        return code

    from core.face.analyzer import FaceAnalyzer
    from core.io import load_photo

    analyzer = FaceAnalyzer(device=args.device)
    for path in readable:
        t0 = time.perf_counter()
        try:
            photo = load_photo(path)
        except GafetError as err:
            code = code or _refuse(reports, path, err)
            continue
        t1 = time.perf_counter()
        faces = analyzer.analyze(photo.rgb)
        t2 = time.perf_counter()
        fits = [] if args.no_fit else [_fit(f) for f in faces]
        t3 = time.perf_counter()
        timings = {
            "load_ms": 1e3 * (t1 - t0),
            "detect_and_mesh_ms": 1e3 * (t2 - t1),
            "fit_ms": 1e3 * (t3 - t2),
        }
        rep = PhotoReport(
            str(path),
            photo.size[0],
            photo.size[1],
            [_face_json(i, f, fits[i] if fits else None) for i, f in enumerate(faces)],
            timings,
        )
        reports.append(rep)
        if not faces:
            code = code or EXIT_NO_FACE
            print(f"gafet analyze: {path}: No face was found in '{path.name}'.", file=sys.stderr)
        if path in overlays:
            _write_overlay(photo.rgb, faces, overlays[path], args.overwrite, protect=args.photos)
        if not args.json:
            _print_text(rep, landmarks=args.landmarks)
    _print_json(args, reports)
    return code


def _refuse(reports: list[PhotoReport | dict], path: Path, err: GafetError) -> int:
    """Report a photo that could not be read; returns its exit code."""
    reports.append({"path": str(path), "error": str(err)})
    print(f"gafet analyze: {path}: error: {err}", file=sys.stderr)
    return err.exit_code


def _print_json(args: argparse.Namespace, reports: list[PhotoReport | dict]) -> None:
    if args.json:
        json.dump([r if isinstance(r, dict) else r.__dict__ for r in reports], sys.stdout, indent=1)
        print()


def _check_overlays(args: argparse.Namespace) -> dict[Path, Path]:
    """photo -> its overlay file, each checked before any work: an image suffix, not an input,
    not existing (without --overwrite), in an existing folder."""
    if not args.overlay:
        return {}
    from core.io.errors import OutputExistsError, OutputIsInputError, SaveError
    from core.io.save import output_format

    out = {p: _overlay_path(args.overlay, p, len(args.photos)) for p in args.photos}
    inputs = {p.resolve() for p in args.photos if p.exists()}
    for target in out.values():
        output_format(target)
        if not target.parent.is_dir():
            raise SaveError(target, f"the folder '{target.parent}' does not exist")
        if target.exists() and target.resolve() in inputs:
            raise OutputIsInputError(target)
        if target.exists() and not args.overwrite:
            raise OutputExistsError(target)
    return out


def _fit(face: Face) -> dict | None:
    from core.geometry.summary import fit_summary

    return fit_summary(face.landmarks)


def _face_json(index: int, face: Face, fit: dict | None) -> dict:
    import numpy as np

    d = face.detection
    out = {
        "index": index,
        "box": [round(float(v), 2) for v in d.box],
        "score": round(d.score, 4),
        "presence": round(face.presence, 4),
        "keypoints": np.round(d.keypoints, 2).tolist(),
        "landmarks": np.round(face.landmarks, 2).tolist(),
    }
    if fit is not None:
        out["fit"] = fit
    return out


def _print_text(rep: PhotoReport, *, landmarks: bool) -> None:
    t = rep.timings_ms
    print(
        f"{rep.path}: {rep.width}x{rep.height}, {len(rep.faces)} face(s), numbered left to right; "
        f"load {t['load_ms']:.0f} ms, detect+mesh {t['detect_and_mesh_ms']:.0f} ms, fit {t['fit_ms']:.0f} ms"
    )
    for f in rep.faces:
        x0, y0, x1, y1 = f["box"]
        print(
            f"  face {f['index']}: box ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f}), "
            f"score {f['score']:.3f}, presence {f['presence']:.3f}"
        )
        if fit := f.get("fit"):
            pose = fit["pose"]
            print(
                f"    pose: yaw {pose['yaw_deg']:+.1f}°, pitch {pose['pitch_deg']:+.1f}°, "
                f"roll {pose['roll_deg']:+.1f}°, scale {pose['scale']:.3f}"
            )
            strong = sorted(((v, k) for k, v in fit["aus"].items() if v >= SUMMARY_AU_MIN), reverse=True)
            aus = ", ".join(f"{k} {v:.2f}" for v, k in strong[:SUMMARY_AUS]) or "none above 0.1"
            print(f"    strongest AUs: {aus}")
        if not landmarks:
            continue
        print("    landmarks (468, x y z px):")
        lm = f["landmarks"]
        for i in range(0, len(lm), 4):
            row = "  ".join(
                f"{j:3d}: {p[0]:7.1f} {p[1]:7.1f} {p[2]:6.1f}" for j, p in enumerate(lm[i : i + 4], i)
            )
            print(f"      {row}")


def _overlay_path(base: Path, photo: Path, n: int) -> Path:
    if n == 1:
        return base
    return base.with_name(f"{base.stem}-{photo.stem}{base.suffix or '.png'}")


def _write_overlay(
    rgb: np.ndarray, faces: list[Face], out: Path, overwrite: bool, protect: list[Path]
) -> None:
    import cv2
    import numpy as np

    from core.io import save_image

    img = np.ascontiguousarray(rgb).copy()
    thick = max(1, round(max(img.shape[:2]) / 800))
    for i, f in enumerate(faces):
        x0, y0, x1, y1 = (int(round(v)) for v in f.detection.box)
        cv2.rectangle(img, (x0, y0), (x1, y1), (255, 200, 0), thick, cv2.LINE_AA)
        cv2.putText(
            img,
            str(i),
            (x0, max(0, y0 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * thick + 0.3,
            (255, 200, 0),
            thick,
            cv2.LINE_AA,
        )
        for x, y, _ in f.landmarks:
            cv2.circle(img, (int(round(x)), int(round(y))), thick, (0, 255, 80), -1, cv2.LINE_AA)
    save_image(out, img, overwrite=overwrite, protect=protect)
