"""Enlarged mouth close-ups of the warp editor on real pairs, before / after a change, with figures.

    # 1. render the current code into out/mouth_closeups/<tag>/ (crops + the meshes used)
    python tools/mouth_closeups.py render --tag before
    # ... change the code ...
    # 2. render again; --geometry-from reuses the target meshes saved by an earlier tag, so a
    #    change of the AU fit meanwhile does not move the lips between the two columns
    python tools/mouth_closeups.py render --tag after --geometry-from before
    # 3. sheets (source | reference | before | after, each mouth enlarged 4x) and figures
    python tools/mouth_closeups.py compare before after
    # the fallback cavity's alternatives (CAVITY_VARIANTS) on the presets of a render
    python tools/mouth_closeups.py cavity before

Pairs: portraits, group-photo faces and video frames as sources x the expressive photos, laugh
frames of sad_to_laugh.mp4 and the open-mouth presets, at alpha 1.0 and 1.5 (``CASES``).
Everything is rendered through :class:`core.editing.pipeline.EditPipeline` with the warp editor
at a 512 px crop (crop only: the mouth lives in the crop).

Figures per render (printed by ``compare``), all inside the target's inner-lip contour:

* ``teeth dab``: the brightest fifth of the interior (teeth, where there are any) minus the
  source's sclera (brightest third inside its eye contours), in CIE Lab a and b: white balance of
  the teeth against the source's own whites (orange teeth: large positive b);
* ``edge``: median |grad L| across the inner-lip contour / the same across the source's outer-lip
  contour (its natural lip edge); ``edge_ref``: the same / across the reference photo's own
  inner-lip contour (a real lip-to-teeth edge; photo references only); ``line``: how much darker
  the contour itself is than 2 px to either side (a drawn outline is positive);
* ``black``: fraction of the opening darker than L 6 (a black hole), ``L50``: median L.

Output goes under ``out/`` (git-ignored). Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")

SIZE = 512
ZOOM = 4
ALPHAS = (1.0, 1.5)
# (source, reference): "file.jpg", "file.jpg#face", "video.mp4@frame", "preset:name"
CASES: tuple[tuple[str, str], ...] = (
    ("single_face.jpg", "happy.jpg"),
    ("single_face.jpg", "surprise.jpg"),
    ("single_face.jpg", "preset:surprise"),
    ("single_face.jpg", "anger.jpg"),
    ("multi_face.jpg#1", "disgust.jpg"),
    ("multi_face.jpg#3", "sad_to_laugh.mp4@320"),
    ("multi_face.jpg#0", "preset:happy"),
    ("sad_to_laugh.mp4@0", "happy.jpg"),
    ("sad_to_laugh.mp4@0", "preset:happy"),
    ("neutral_to_smile.mp4@0", "sad_to_laugh.mp4@360"),
    ("neutral_to_smile.mp4@0", "preset:fear"),
    ("anger.jpg", "happy.jpg"),
    ("anger.jpg", "preset:surprise"),
    ("anger.jpg", "sad_to_laugh.mp4@400"),
    ("surprise.jpg", "sad_to_laugh.mp4@400"),
    ("happy.jpg", "preset:surprise"),
    ("disgust.jpg", "surprise.jpg"),
)


def case_name(source: str, reference: str, alpha: float) -> str:
    def clean(s: str) -> str:
        for old, new in ((".jpg", ""), (".mp4", ""), ("#", "-f"), ("@", "-"), (":", "-")):
            s = s.replace(old, new)
        return s

    return f"{clean(source)}__{clean(reference)}__a{int(round(alpha * 100)):03d}"


def photo_path(spec: str, frames: Path) -> tuple[Path, int]:
    """A media spec -> (photo file, face index); video frames are written once as PNG."""
    from core import assets
    from core.io import iter_frames, save_image

    spec, _, face = spec.partition("#")
    name, _, frame = spec.partition("@")
    path = assets.asset_path("test-media", name)
    if frame:
        out = frames / f"{Path(name).stem}_{int(frame):04d}.png"
        if not out.is_file():
            image = next(iter(iter_frames(path, start=int(frame), max_frames=1)))
            frames.mkdir(parents=True, exist_ok=True)
            save_image(out, image, lossless=True, overwrite=True)
        path = out
    return path, int(face or 0)


def render(out: Path, tag: str, geometry_from: str | None, only: str | None) -> None:
    import torch

    from core.editing.editor import EditInputs
    from core.editing.params import EditParams
    from core.editing.pipeline import EditPipeline
    from core.editing.warp.editor import WarpEdit, WarpEditor
    from core.geometry.presets import builtin_preset
    from core.io import load_photo, save_image

    torch.set_num_threads(1)

    class Recording(WarpEditor):
        last_kind = ""

        def edit_detailed(self, inputs: EditInputs) -> WarpEdit:
            detail = super().edit_detailed(inputs)
            self.last_kind = detail.mouth.kind
            return detail

    editor = Recording()
    pipe = EditPipeline(editor=editor, crop_size=SIZE)
    folder = out / tag
    folder.mkdir(parents=True, exist_ok=True)
    frames = out / "frames"
    saved_target = pipe.target_vertices
    for source_spec, reference_spec in CASES:
        if only and only not in f"{source_spec} {reference_spec}":
            continue
        src = pipe.prepare_source(load_photo(photo_path(source_spec, frames)[0]),
                                  face_index=photo_path(source_spec, frames)[1])
        if reference_spec.startswith("preset:"):
            ref = pipe.prepare_preset(builtin_preset(reference_spec.split(":", 1)[1]))
        else:
            path, index = photo_path(reference_spec, frames)
            ref = pipe.prepare_reference(load_photo(path), face_index=index)
        for alpha in ALPHAS:
            name = case_name(source_spec, reference_spec, alpha)
            pipe.target_vertices = saved_target  # type: ignore[method-assign]
            if geometry_from:
                old = out / geometry_from / f"{name}.json"
                if old.is_file():
                    target = np.asarray(json.loads(old.read_text())["target"], np.float32)
                    pipe.target_vertices = lambda *_a, t=target, **_k: t  # type: ignore[method-assign]
            result = pipe.render(src, ref, EditParams(alpha=alpha), full_resolution=False)
            save_image(folder / f"{name}.png", result.crop, lossless=True, overwrite=True)
            save_image(folder / f"{name}_source.png", src.aligned.crop, lossless=True, overwrite=True)
            if ref.aligned is not None:
                save_image(folder / f"{name}_reference.png", ref.aligned.crop, lossless=True, overwrite=True)
            meta = {"source": result.source_vertices.tolist(), "target": result.target_vertices.tolist(),
                    "reference": None if ref.aligned is None else ref.vertices.tolist(),
                    "kind": editor.last_kind, "case": [source_spec, reference_spec, alpha]}
            (folder / f"{name}.json").write_text(json.dumps(meta))
            print(f"{name}: mouth {editor.last_kind}, editor {result.timings.editor_ms:.0f} ms", flush=True)


# --- figures ---------------------------------------------------------------------------------------

class MouthFigures(NamedTuple):
    teeth_da: float
    teeth_db: float
    edge: float
    edge_ref: float
    line: float
    black: float
    l50: float


def contour_points(vertices: np.ndarray, indices: tuple[int, ...],
                   step: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step`` px along a closed ring and their unit outward-ish normals."""
    p = np.asarray(vertices, np.float64)[list(indices), :2]
    q = np.roll(p, -1, axis=0)
    pts, normals = [], []
    centre = p.mean(0)
    for a, b in zip(p, q, strict=True):
        n = max(2, int(np.hypot(*(b - a)) / step))
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        seg = a + t * (b - a)
        d = (b - a) / max(np.hypot(*(b - a)), 1e-6)
        nrm = np.array([d[1], -d[0]])
        if np.dot(seg.mean(0) - centre, nrm) < 0:
            nrm = -nrm
        pts.append(seg)
        normals.append(np.repeat(nrm[None], len(seg), 0))
    return np.concatenate(pts), np.concatenate(normals)


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    m = xy.astype(np.float32)
    return cv2.remap(image.astype(np.float32), m[:, 0].reshape(-1, 1), m[:, 1].reshape(-1, 1),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1)


def figures(crop: np.ndarray, source_crop: np.ndarray, source: np.ndarray, target: np.ndarray,
            reference: tuple[np.ndarray, np.ndarray] | None) -> MouthFigures:
    from core.editing.masks import EYE_RINGS, INNER_LIP_RING, OUTER_LIP_RING, polygon_mask, ring
    from core.editing.warp.colour import to_lab

    lab = to_lab(crop)
    inside = cv2.erode((polygon_mask(ring(target, INNER_LIP_RING), SIZE) > 0.5).astype(np.uint8),
                       np.ones((3, 3), np.uint8)) > 0
    nan = float("nan")
    if inside.sum() < 20:
        return MouthFigures(nan, nan, nan, nan, nan, nan, nan)
    px = lab[inside]
    teeth = px[px[:, 0] >= np.percentile(px[:, 0], 80)]
    slab = to_lab(source_crop)
    eyes = np.zeros((SIZE, SIZE), bool)
    for r in EYE_RINGS:
        eyes |= polygon_mask(ring(source, r), SIZE) > 0.5
    sclera = slab[eyes]
    sclera = sclera[sclera[:, 0] >= np.percentile(sclera[:, 0], 67)]
    d = teeth[:, 1:].mean(0) - sclera[:, 1:].mean(0)

    def grad(image_l: np.ndarray) -> np.ndarray:
        gx = cv2.Sobel(image_l, cv2.CV_32F, 1, 0, ksize=3) / 8
        gy = cv2.Sobel(image_l, cv2.CV_32F, 0, 1, ksize=3) / 8
        return np.hypot(gx, gy)

    pts, nrm = contour_points(target, INNER_LIP_RING)
    g_out = np.median(bilinear(grad(lab[..., 0]), pts))
    spts, _ = contour_points(source, OUTER_LIP_RING)
    g_src = np.median(bilinear(grad(slab[..., 0]), spts))
    edge_ref = nan
    if reference is not None:
        rpts, _ = contour_points(reference[1], INNER_LIP_RING)
        edge_ref = float(g_out / max(np.median(bilinear(grad(to_lab(reference[0])[..., 0]), rpts)), 1e-3))
    on = bilinear(lab[..., 0], pts)
    side = np.minimum(bilinear(lab[..., 0], pts + 2 * nrm), bilinear(lab[..., 0], pts - 2 * nrm))
    return MouthFigures(float(d[0]), float(d[1]), float(g_out / max(g_src, 1e-3)), edge_ref,
                        float(np.median(side - on)), float((px[:, 0] < 6).mean()), float(np.median(px[:, 0])))


# --- sheets ------------------------------------------------------------------------------------------

def mouth_box(vertices_list: list[np.ndarray], size: int) -> tuple[int, int, int]:
    """(x0, y0, side) of a square around the outer lips of all meshes given, clipped to the crop."""
    from core.editing.masks import OUTER_LIP_RING, ring

    pts = np.concatenate([ring(v, OUTER_LIP_RING) for v in vertices_list])
    lo, hi = pts.min(0), pts.max(0)
    side = int(np.ceil(max(hi - lo) * 1.25))
    cx, cy = (lo + hi) / 2
    x0 = int(np.clip(round(cx - side / 2), 0, size - side))
    y0 = int(np.clip(round(cy - side / 2), 0, size - side))
    return x0, y0, side


def zoomed(image: np.ndarray, box: tuple[int, int, int], label: str, panel: int) -> np.ndarray:
    x0, y0, side = box
    cut = image[y0:y0 + side, x0:x0 + side]
    big = cv2.resize(cut, (side * ZOOM, side * ZOOM), interpolation=cv2.INTER_NEAREST)
    big = cv2.resize(big, (panel, panel), interpolation=cv2.INTER_AREA) if big.shape[0] != panel else big
    big = np.ascontiguousarray(big)
    cv2.rectangle(big, (0, 0), (panel, 22), (0, 0, 0), -1)
    cv2.putText(big, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return big


def load_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def compare(out: Path, tags: list[str], rows_per_sheet: int) -> None:
    from core.io import save_image

    names = sorted(p.stem for p in (out / tags[-1]).glob("*.json"))
    rows, sheet = [], 0
    print(f"{'case':<58} {'tag':<8} {'mouth':<10} {'teeth da':>8} {'db':>6} {'edge':>6} {'e_ref':>6} "
          f"{'line':>6} {'black':>6} {'L50':>5}")
    table: dict[str, list[MouthFigures]] = {t: [] for t in tags}
    for i, name in enumerate(names):
        meta = {t: json.loads((out / t / f"{name}.json").read_text()) for t in tags
                if (out / t / f"{name}.json").is_file()}
        last = meta[tags[-1]]
        source_crop = load_rgb(out / tags[-1] / f"{name}_source.png")
        src_v = np.asarray(last["source"])
        box = mouth_box([src_v] + [np.asarray(m["target"]) for m in meta.values()], SIZE)
        panel = 4 * 100
        panels = [zoomed(source_crop, box, f"source {last['case'][0]}", panel)]
        ref_png = out / tags[-1] / f"{name}_reference.png"
        if ref_png.is_file() and last["reference"] is not None:
            ref = load_rgb(ref_png)
            panels.append(zoomed(ref, mouth_box([np.asarray(last["reference"])], ref.shape[0]),
                                 f"reference {last['case'][1]}", panel))
        else:
            blank = np.full((panel, panel, 3), 40, np.uint8)
            cv2.putText(blank, str(last["case"][1]), (20, panel // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                        (255, 255, 255), 2, cv2.LINE_AA)
            panels.append(blank)
        reference = None
        if ref_png.is_file() and last["reference"] is not None:
            reference = (load_rgb(ref_png), np.asarray(last["reference"]))
        for t, m in meta.items():
            crop = load_rgb(out / t / f"{name}.png")
            f = figures(crop, source_crop, src_v, np.asarray(m["target"]), reference)
            table[t].append(f)
            print(f"{name:<58} {t:<8} {m['kind']:<10} {f.teeth_da:8.1f} {f.teeth_db:6.1f} {f.edge:6.2f} "
                  f"{f.edge_ref:6.2f} {f.line:6.1f} {f.black:6.3f} {f.l50:5.1f}")
            panels.append(zoomed(crop, box, f"{t} a={m['case'][2]} {m['kind']}", panel))
        rows.append(np.concatenate(panels, 1))
        if len(rows) == rows_per_sheet or i == len(names) - 1:
            width = max(r.shape[1] for r in rows)
            rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
            path = out / f"sheet_{'_'.join(tags)}_{sheet:02d}.png"
            save_image(path, np.concatenate(rows, 0), lossless=True, overwrite=True)
            print(f"  -> {path}")
            rows, sheet = [], sheet + 1
    print("medians over renders (max in brackets):")
    for t, figs in table.items():
        cols = {k: np.array([getattr(f, k) for f in figs]) for k in ("edge", "edge_ref", "line", "black")}
        cols["|teeth db|"] = np.abs(np.array([f.teeth_db for f in figs]))
        parts = [f"{k} {np.nanmedian(v):.2f} ({np.nanmax(v):.2f})" for k, v in cols.items()]
        print(f"  {t:<8} " + "  ".join(parts))


# --- cavity alternatives -------------------------------------------------------------------------------

CAVITY_VARIANTS: dict[str, dict[str, float]] = {
    "default": {},
    "no tongue": {"tongue": 0.0},
    "darker": {"back_l": 0.14, "tongue_l": 0.5, "top_shade": 0.55},
    "lighter": {"back_l": 0.32, "tongue_l": 0.7, "top_shade": 0.3, "corner_shade": 0.35},
    "no grain": {"grain": 0.0},
}


def cavity_variants(out: Path, tag: str) -> None:
    """Sheets of the fallback cavity (presets on closed mouths) under each of ``CAVITY_VARIANTS``,
    on the geometry saved by ``render --tag TAG`` (the crop made by the fill alone: flow warp +
    mouth, no pipeline)."""
    import torch

    from core.editing.editor import EditGeometry, EditInputs
    from core.editing.geometry_link import geometry_link
    from core.editing.masks import build_masks
    from core.editing.warp.cavity import CavityConfig
    from core.editing.warp.editor import WarpEditor, WarpEditorConfig
    from core.editing.warp.mouth_fill import MouthFillConfig
    from core.io import save_image
    from core.render.flow import backward_flow

    torch.set_num_threads(1)
    link = geometry_link()
    rows = []
    for meta_path in sorted((out / tag).glob("*.json")):
        meta = json.loads(meta_path.read_text())
        if meta["kind"] not in ("cavity", "synthetic"):
            continue
        source_crop = load_rgb(out / tag / f"{meta_path.stem}_source.png")
        src, tgt = (np.asarray(meta[k], np.float32) for k in ("source", "target"))
        geometry = EditGeometry(faces=link.faces, source=src, target=tgt, reference=None,
                                mouth_faces=link.mouth_faces, eye_faces=link.eye_faces, size=SIZE)
        flow = backward_flow(EditGeometry.screen(tgt), EditGeometry.screen(src)[..., :2],
                             torch.as_tensor(link.faces), (SIZE, SIZE))
        masks = build_masks(geometry, flow.displacement[0].numpy())
        inputs = EditInputs(source_crop=source_crop, flow=flow, masks=masks, reference_crop=None,
                            geometry=geometry)
        box = mouth_box([src, tgt], SIZE)
        panels = [zoomed(source_crop, box, f"source {meta['case'][0]} a={meta['case'][2]}", 400)]
        for name, change in CAVITY_VARIANTS.items():
            cfg = WarpEditorConfig(mouth=MouthFillConfig(cavity=CavityConfig(**change)))
            crop = WarpEditor(config=cfg).edit_detailed(inputs).crop
            panels.append(zoomed(crop, box, name, 400))
        rows.append(np.concatenate(panels, 1))
    path = out / f"cavity_variants_{tag}.png"
    save_image(path, np.concatenate(rows, 0), lossless=True, overwrite=True)
    print(f"  -> {path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/mouth_closeups"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--tag", required=True)
    r.add_argument("--geometry-from", default=None)
    r.add_argument("--only", default=None, help="render only cases whose 'source reference' contains this")
    c = sub.add_parser("compare")
    c.add_argument("tags", nargs="+")
    c.add_argument("--rows", type=int, default=6)
    v = sub.add_parser("cavity", help="the fallback cavity's alternatives on an earlier render's presets")
    v.add_argument("tag")
    args = ap.parse_args(argv)
    if args.cmd == "render":
        render(args.out, args.tag, args.geometry_from, args.only)
    elif args.cmd == "cavity":
        cavity_variants(args.out, args.tag)
    else:
        compare(args.out, args.tags, args.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
