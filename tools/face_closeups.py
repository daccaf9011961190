"""Enlarged close-ups of the eyes and the nose of warp-editor edits, source beside output.

For each source face (``single_face.jpg``, the five people of ``multi_face.jpg``, a frame of
``sad_to_laugh.mp4``) and each preset (default: surprise, fear, disgust), renders the edit at
alpha 1.0 with ``EditPipeline(editor=WarpEditor(), crop_size=512)`` and writes one PNG per pair:
top row the source, bottom row the output; left the two eyes, right the nose (bridge to tip), each
cut from the full-resolution photo and enlarged ``--zoom`` times (nearest neighbour: the real pixels).

    OMP_NUM_THREADS=1 .venv/bin/python tools/face_closeups.py --out /tmp/closeups [--presets surprise fear]

Also writes ``<out>/index.txt`` (one line per PNG: file, source, preset, eye states).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from core import assets
from core.editing.masks import EYE_RINGS
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedSource
from core.editing.warp.editor import WarpEditor
from core.geometry.presets import builtin_preset
from core.io import load_photo
from core.io.video import iter_frames

NOSE = (168, 6, 197, 195, 5, 4, 1, 129, 358, 98, 327, 193, 417)  # bridge, tip and the alae


def sources(pipe: EditPipeline, frame_dir: Path) -> list[tuple[str, PreparedSource]]:
    media = lambda name: assets.asset_path("test-media", name)  # noqa: E731
    out = [("single_face", pipe.prepare_source(load_photo(media("single_face.jpg"))))]
    group = load_photo(media("multi_face.jpg"))
    out += [(f"multi_face{i}", pipe.prepare_source(group, face_index=i)) for i in range(5)]
    frame = next(iter_frames(media("sad_to_laugh.mp4"), start=240, max_frames=1))
    path = frame_dir / "sad_to_laugh_f240.png"
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    out.append(("video_f240", pipe.prepare_source(load_photo(path))))
    return out


def box(points: np.ndarray, pad: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) around photo points, padded by ``pad`` times the larger side."""
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    p = pad * max(x1 - x0, y1 - y0)
    return (max(0, int(y0 - p)), min(shape[0], int(np.ceil(y1 + p))),
            max(0, int(x0 - p)), min(shape[1], int(np.ceil(x1 + p))))


def cut(image: np.ndarray, b: tuple[int, int, int, int], zoom: int) -> np.ndarray:
    y0, y1, x0, x1 = b
    part = image[y0:y1, x0:x1]
    return cv2.resize(part, (part.shape[1] * zoom, part.shape[0] * zoom), interpolation=cv2.INTER_NEAREST)


def closeup(src: PreparedSource, out_image: np.ndarray, zoom: int) -> np.ndarray:
    photo = np.asarray(src.photo.rgb)
    verts = src.aligned.to_photo(src.vertices[:, :2])
    eyes = box(verts[list(EYE_RINGS[0] + EYE_RINGS[1])], 0.12, photo.shape)
    nose = box(verts[list(NOSE)], 0.15, photo.shape)
    rows = []
    for image in (photo, out_image):
        a, b = cut(image, eyes, zoom), cut(image, nose, zoom)
        h = max(a.shape[0], b.shape[0])
        padded = [np.pad(x, ((0, h - x.shape[0]), (0, 8), (0, 0)), constant_values=255) for x in (a, b)]
        rows.append(np.hstack(padded))
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.vstack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--presets", nargs="+", default=["surprise", "fear", "disgust"])
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--zoom", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    pipe = EditPipeline(editor=WarpEditor(), crop_size=512)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, src in sources(pipe, Path(tmp)):
            for preset in args.presets:
                ref = pipe.prepare_preset(builtin_preset(preset))
                result = pipe.render(src, ref, EditParams(alpha=args.alpha))
                png = args.out / f"{name}_{preset}.png"
                cv2.imwrite(str(png), cv2.cvtColor(closeup(src, result.image, args.zoom), cv2.COLOR_RGB2BGR))
                lines.append(f"{png.name}\t{name}\t{preset}\tscale={src.aligned.scale:.3f}")
                print(lines[-1], flush=True)
    (args.out / "index.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
