"""Detail and stability benchmark of the warp editor (issue 10, parts 4 and 5).

Grid: every portrait of the test media as a source (``single_face.jpg``, the five people of
``multi_face.jpg``, frame 240 of ``sad_to_laugh.mp4``, and ``single_face.jpg`` enlarged 3x
(Lanczos): a face larger in the photo than the crop) x every expressive photo
(``happy``, ``surprise``, ``anger``, ``disgust``) and every built-in preset as the reference, at
alpha 1.0 and 1.5, through ``EditPipeline(editor=WarpEditor(), crop_size=512)``. Prints, per
alpha, for the warp editor and for the do-nothing baseline (the source itself):

* **detail**: the ratio of the output's Laplacian variance to the source's on the face's skin
  (inside both face ovals, without the eyes, brows and mouth of the source and the target, which
  an edit legitimately moves, opens or replaces: :func:`detail_region`), median / min / max, at
  full resolution and in the aligned crop; and the median over small patches of the patch's ratio
  (:func:`patch_ratio`, robust to the few patches a moved feature edge enters or leaves: it
  tracks blur and the skin's own stretching, ~ (source px per output px)^4);
* **outside**: pixels of the full-resolution output that differ from the source outside the
  edit's own region (``EditResult.region``; must be 0), and outside the union of the source's
  and the target's face ovals grown by 2 px (an independent definition of "the face");
* **neutral**: the mean absolute difference (of 255) in the face box of the ``neutral`` preset
  applied to a neutral face (frame 0 of ``neutral_to_smile.mp4``) at alpha 1.0.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_detail.py [--alphas 1.0 1.5] [--quick]

Prints figures only; asserts nothing. Reads the test media through the asset manager.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

from core import assets
from core.editing.masks import EYE_RINGS, OUTER_LIP_RING, polygon_mask, ring
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, EditResult, PreparedReference, PreparedSource
from core.editing.warp.editor import WarpEditor
from core.geometry.au.topology import BROW_LEFT, BROW_RIGHT, FACE_OVAL
from core.geometry.presets import BUILTIN_PRESETS, builtin_preset
from core.io import load_photo
from core.io.video import iter_frames

EXPRESSIVE = ("happy.jpg", "surprise.jpg", "anger.jpg", "disgust.jpg")
ALPHAS = (1.0, 1.5)


class Row(NamedTuple):
    source: str
    reference: str
    alpha: float
    ratio_full: float
    ratio_crop: float
    patch_full: float
    patch_crop: float
    outside_region: int
    outside_oval: int
    reach: float


def media(name: str) -> Path:
    return assets.asset_path("test-media", name)


def frame_photo(video: str, index: int, folder: Path) -> Path:
    frame = next(iter_frames(media(video), start=index, max_frames=1))
    path = folder / f"{Path(video).stem}_f{index}.png"
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return path


def enlarged_photo(name: str, factor: int, folder: Path) -> Path:
    image = cv2.imread(str(media(name)))
    path = folder / f"{Path(name).stem}_x{factor}.png"
    cv2.imwrite(str(path), cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LANCZOS4))
    return path


def gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def laplacian_ratio(out: np.ndarray, src: np.ndarray, region: np.ndarray) -> float:
    """Laplacian variance of ``out`` over that of ``src`` (both (H, W, 3) uint8) on ``region``."""
    keep = region > 0.5
    lo, ls = cv2.Laplacian(gray(out), cv2.CV_32F), cv2.Laplacian(gray(src), cv2.CV_32F)
    return float(lo[keep].var() / max(ls[keep].var(), 1e-6))


def patch_ratio(out: np.ndarray, src: np.ndarray, region: np.ndarray, patch: int) -> float:
    """Median over square patches (side ``patch`` px, at least 80 % inside ``region``) of the
    patch's Laplacian-variance ratio: robust to the few patches a moved feature edge enters or
    leaves, sensitive to a loss of detail everywhere (blur)."""
    lo, ls = cv2.Laplacian(gray(out), cv2.CV_32F), cv2.Laplacian(gray(src), cv2.CV_32F)
    ratios = []
    h, w = region.shape
    for y in range(0, h - patch + 1, patch):
        for x in range(0, w - patch + 1, patch):
            if region[y:y + patch, x:x + patch].mean() < 0.8:
                continue
            vs = ls[y:y + patch, x:x + patch].var()
            if vs > 1e-3:
                ratios.append(lo[y:y + patch, x:x + patch].var() / vs)
    return float(np.median(ratios)) if ratios else float("nan")


def detail_region(source: np.ndarray, target: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float mask of the face's skin, where detail (pores, freckles) is measured: the
    intersection of the source's and the target's face ovals shrunk by 5 % of the face size,
    minus, for source and target, each eye with its brow (their hull) grown by 6 % of the face
    size and the outer lip contour grown by 10 %: features an edit legitimately moves, opens or
    replaces. Vertices in the image's px."""
    h, w = shape
    size = max(h, w)
    oval = np.minimum(polygon_mask(ring(source, FACE_OVAL), size),
                      polygon_mask(ring(target, FACE_OVAL), size))[:h, :w]
    face = float(np.sqrt(max(oval.sum(), 1.0)))
    r = max(1, int(round(0.05 * face)))
    oval = cv2.erode(oval, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    eyes, mouth = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    for verts in (source, target):
        for idx in (EYE_RINGS[0] + BROW_RIGHT, EYE_RINGS[1] + BROW_LEFT):
            cv2.fillConvexPoly(eyes, cv2.convexHull(np.round(verts[list(idx), :2]).astype(np.int32)), 1)
        lips = polygon_mask(ring(verts, OUTER_LIP_RING), size)[:h, :w] > 0
        mouth = np.maximum(mouth, lips.astype(np.uint8))
    disc = lambda f: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * max(1, round(f * face)) + 1,) * 2)  # noqa: E731
    holes = cv2.dilate(eyes, disc(0.06)) | cv2.dilate(mouth, disc(0.1))
    return oval * (holes == 0)


def oval_union(source: np.ndarray, target: np.ndarray, shape: tuple[int, int], grow: int = 2) -> np.ndarray:
    h, w = shape
    size = max(h, w)
    m = np.maximum(polygon_mask(ring(source, FACE_OVAL), size),
                   polygon_mask(ring(target, FACE_OVAL), size))[:h, :w]
    return cv2.dilate((m > 0).astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0


def measure(src: PreparedSource, result: EditResult, name: str, ref: str, alpha: float) -> Row:
    photo = np.asarray(src.photo.rgb)
    image = result.image
    to_photo = src.aligned.to_photo
    s_p, t_p = to_photo(result.source_vertices[:, :2]), to_photo(result.target_vertices[:, :2])
    full_region = detail_region(s_p, t_p, photo.shape[:2])
    full = laplacian_ratio(image, photo, full_region)
    crop_region = detail_region(result.source_vertices[:, :2], result.target_vertices[:, :2],
                                result.crop.shape[:2])
    crop = laplacian_ratio(result.crop, src.aligned.crop, crop_region)
    patch = max(6, int(round(0.08 * np.sqrt(full_region.sum()))))
    patch_full = patch_ratio(image, photo, full_region, patch)
    patch_crop = patch_ratio(result.crop, src.aligned.crop, crop_region, 16)
    differs = (image != photo).any(axis=2)
    region = getattr(result, "region", None)
    outside_region = int(differs[~region].sum()) if region is not None else -1
    union = oval_union(s_p, t_p, photo.shape[:2], grow=0)
    outside_oval = int(differs[~oval_union(s_p, t_p, photo.shape[:2])].sum())
    dist = cv2.distanceTransform((~union).astype(np.uint8), cv2.DIST_L2, 5)
    face = float(np.sqrt(union.sum()))
    reach = float(dist[differs].max() / face) if differs.any() else 0.0
    return Row(name, ref, alpha, full, crop, patch_full, patch_crop, outside_region, outside_oval, reach)


def stats(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{np.median(a):.3f} [{a.min():.3f}, {a.max():.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS))
    parser.add_argument("--quick", action="store_true", help="single_face and large_face, presets only")
    parser.add_argument("--per-pair", action="store_true", help="print every pair")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = EditPipeline(editor=WarpEditor(), crop_size=512)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        group = load_photo(media("multi_face.jpg"))
        sources: list[tuple[str, PreparedSource]] = [
            ("single_face", pipe.prepare_source(load_photo(media("single_face.jpg")))),
            ("large_face", pipe.prepare_source(load_photo(enlarged_photo("single_face.jpg", 3, folder)))),
        ]
        if not args.quick:
            sources += [(f"multi_face{i}", pipe.prepare_source(group, face_index=i)) for i in range(5)]
            sources.append(("sad_to_laugh_f240",
                            pipe.prepare_source(load_photo(frame_photo("sad_to_laugh.mp4", 240, folder)))))
        refs: list[tuple[str, PreparedReference]] = [(p, pipe.prepare_preset(builtin_preset(p)))
                                                     for p in BUILTIN_PRESETS]
        if not args.quick:
            refs += [(n, pipe.prepare_reference(load_photo(media(n)))) for n in EXPRESSIVE]
        neutral_src = pipe.prepare_source(load_photo(frame_photo("neutral_to_smile.mp4", 0, folder)))

        print("sources (crop px per photo px): "
              + ", ".join(f"{n} ({s.aligned.scale:.2f})" for n, s in sources))
        print(f"references: {', '.join(n for n, _ in refs)}\n")
        for alpha in args.alphas:
            rows = []
            for name, src in sources:
                for ref_name, ref in refs:
                    result = pipe.render(src, ref, EditParams(alpha=alpha))
                    rows.append(measure(src, result, name, ref_name, alpha))
                    if args.per_pair:
                        r = rows[-1]
                        print(f"  {name:18s} {ref_name:13s} full {r.ratio_full:.3f} ({r.patch_full:.3f}) "
                              f"crop {r.ratio_crop:.3f} ({r.patch_crop:.3f}) "
                              f"outside region {r.outside_region} oval {r.outside_oval} reach {r.reach:.3f}")
            big = [r for r in rows if r.source == "large_face"]
            print(f"alpha {alpha:g} ({len(rows)} pairs)")
            lines = (("Laplacian-variance ratio, full resolution:", [r.ratio_full for r in rows]),
                     ("... large_face only:", [r.ratio_full for r in big]),
                     ("... in the crop:", [r.ratio_crop for r in rows]),
                     ("median of patch ratios, full resolution:", [r.patch_full for r in rows]),
                     ("... in the crop:", [r.patch_crop for r in rows]))
            for i, (label, values) in enumerate(lines):
                print(f"  {'warp' if i == 0 else '':8s}  {label:42s} {stats(values)}")
            outside = [r.outside_region for r in rows]
            print(f"            px changed outside EditResult.region: total {sum(outside)}"
                  f"{' (region not exposed)' if min(outside) < 0 else ''}; "
                  f"outside the face ovals (+2 px): total {sum(r.outside_oval for r in rows)}, "
                  f"pairs with any {sum(r.outside_oval > 0 for r in rows)}; farthest changed px beyond them "
                  f"(fraction of the face size): median {np.median([r.reach for r in rows]):.3f}, "
                  f"max {max(r.reach for r in rows):.3f}")
            print("  baseline  (the source itself) Laplacian-variance ratio 1.000 [1.000, 1.000]; "
                  "px changed outside: 0\n")

        neutral = pipe.prepare_preset(builtin_preset("neutral"))
        result = pipe.render(neutral_src, neutral, EditParams(alpha=1.0))
        photo = np.asarray(neutral_src.photo.rgb)
        pts = neutral_src.aligned.to_photo(result.source_vertices[:, :2])
        x0, y0 = np.floor(pts.min(0)).astype(int)
        x1, y1 = np.ceil(pts.max(0)).astype(int)
        diff = np.abs(result.image[y0:y1, x0:x1].astype(np.float32) - photo[y0:y1, x0:x1].astype(np.float32))
        print(f"neutral preset on a neutral face (neutral_to_smile frame 0), alpha 1: mean |diff| in the "
              f"face box {diff.mean():.3f} of 255 (baseline 0.000); max {diff.max():.0f}")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
