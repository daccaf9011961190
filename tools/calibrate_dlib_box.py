"""Fit the mesh -> dlib-detector box mapping of ``core/judges/dlib_box.py`` and print its error.

Needs the dlib runtime (dev extra ``dlib-bin``) and the test media. For the test media's photos
and video frames (every 4th frame of sad_to_laugh.mp4, every 2nd of neutral_to_smile.mp4) it
pairs each box of ``dlib.get_frontal_face_detector()(image, 1)`` with the project's mesh of
the same face, fits

    centre = mesh centroid (x, y) + (a, b) * s,  side = k * s,  s = RMS 3D radius of the mesh

by least squares, and prints the constants, the box errors (in-sample and leaving each video /
the photos out), and what matters: how far dlib's 68 landmarks move (in inter-ocular distances)
with the mesh box instead of the detector's, next to the detector's own jitter (its two box
sizes for one face in neutral_to_smile.mp4).

    OMP_NUM_THREADS=1 .venv/bin/python tools/calibrate_dlib_box.py
"""

from __future__ import annotations

import cv2
import dlib
import numpy as np
import torch

from core import assets
from core.evaluation.views import box_iou
from core.face.analyzer import FaceAnalyzer
from core.io.video import iter_frames
from core.judges import dlib_box
from core.judges.dlib_shape import DlibRect, load_dlib_shape_predictor, predict_landmarks

PHOTOS = ("anger.jpg", "disgust.jpg", "happy.jpg", "surprise.jpg", "single_face.jpg", "multi_face.jpg",
          "bw_photo.jpg")
VIDEOS = (("sad_to_laugh.mp4", 4), ("neutral_to_smile.mp4", 2))


def pictures() -> list[tuple[str, np.ndarray]]:
    out = [(n, cv2.imread(str(assets.asset_path("test-media", n)))[:, :, ::-1].copy()) for n in PHOTOS]
    for video, step in VIDEOS:
        for i, frame in enumerate(iter_frames(assets.asset_path("test-media", video))):
            if i % step == 0:
                out.append((f"{video}@{i}", frame))
    return out


def gather() -> tuple[list[str], list[np.ndarray], np.ndarray, np.ndarray]:
    """Per face: (names, images, meshes (N, 468, 3), detector boxes (N, 4) left top right bottom)."""
    detector, analyzer = dlib.get_frontal_face_detector(), FaceAnalyzer()
    names, meshes, boxes, images = [], [], [], []
    for name, image in pictures():
        faces = analyzer.analyze(image)
        for r in detector(image, 1):
            box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64)
            overlap = [box_iou(np.asarray(f.detection.box, np.float64), box) for f in faces]
            if not overlap or max(overlap) < 0.3:
                continue
            best = faces[int(np.argmax(overlap))]
            names.append(name)
            meshes.append(np.asarray(best.landmarks, np.float64))
            boxes.append([r.left(), r.top(), r.right(), r.bottom()])
            images.append(image)
    return names, images, np.stack(meshes), np.asarray(boxes, np.float64)


def fit(meshes: np.ndarray, boxes: np.ndarray) -> tuple[float, float, float]:
    s = np.array([dlib_box.mesh_scale(m) for m in meshes])
    centroid = meshes[:, :, :2].mean(axis=1)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    side = boxes[:, 2] - boxes[:, 0]
    a = float(np.mean((cx - centroid[:, 0]) / s))
    b = float(np.mean((cy - centroid[:, 1]) / s))
    k = float(np.sum(side * s) / np.sum(s * s))
    return a, b, k


def box_errors(meshes: np.ndarray, boxes: np.ndarray, params: tuple[float, float, float]) -> np.ndarray:
    """(N, 3) |centre x|, |centre y|, |side| errors relative to the detector's side."""
    a, b, k = params
    s = np.array([dlib_box.mesh_scale(m) for m in meshes])
    centroid = meshes[:, :, :2].mean(axis=1)
    side = boxes[:, 2] - boxes[:, 0]
    err = np.stack([centroid[:, 0] + a * s - (boxes[:, 0] + boxes[:, 2]) / 2,
                    centroid[:, 1] + b * s - (boxes[:, 1] + boxes[:, 3]) / 2, k * s - side], axis=1)
    return np.abs(err) / side[:, None]


def landmark_shift(model: object, image: np.ndarray, a: DlibRect, b: DlibRect) -> float:
    """Mean distance of the 68 points predicted with box a and box b, in a's inter-ocular distances."""
    pa, pb = predict_landmarks(model, image, a), predict_landmarks(model, image, b)  # type: ignore[arg-type]
    iod = np.linalg.norm(pa[36:42].mean(axis=0) - pa[42:48].mean(axis=0))
    return float(np.mean(np.linalg.norm(pa - pb, axis=1)) / iod)


def main() -> None:
    torch.set_num_threads(1)
    assets.ensure(["test-media", "identity-dlib"])
    names, images, meshes, boxes = gather()
    groups = np.array([n.split("@")[0] if "@" in n else "photos" for n in names])
    params = fit(meshes, boxes)
    print(f"{len(names)} faces. OFFSET_X = {params[0]:.4f}, OFFSET_Y = {params[1]:.4f}, "
          f"SIDE = {params[2]:.4f}")
    e = box_errors(meshes, boxes, params)
    print("box error / side (centre x, centre y, side), in sample: median", np.round(np.median(e, 0), 4),
          "max", np.round(e.max(0), 4))
    held = np.concatenate([box_errors(meshes[groups == g], boxes[groups == g],
                                      fit(meshes[groups != g], boxes[groups != g]))
                           for g in np.unique(groups)])
    print("  leaving each video / the photos out: median", np.round(np.median(held, 0), 4),
          "max", np.round(held.max(0), 4))
    model = load_dlib_shape_predictor()
    used = (dlib_box.OFFSET_X, dlib_box.OFFSET_Y, dlib_box.SIDE)
    shifts = np.array([landmark_shift(model, img, DlibRect(*map(int, box)), dlib_box.dlib_box_from_mesh(mesh))
                       for img, box, mesh in zip(images, boxes, meshes, strict=True)])
    print(f"68 points, mesh box {used} vs detector box: mean shift / IOD median {np.median(shifts):.4f}, "
          f"p90 {np.percentile(shifts, 90):.4f}, max {shifts.max():.4f} ({names[int(np.argmax(shifts))]})")
    video = "neutral_to_smile.mp4"
    sizes = {tuple(b) for b, g in zip(boxes.astype(int).tolist(), groups, strict=True) if g == video}
    if len(sizes) >= 2:
        by_side = sorted(sizes, key=lambda b: b[2] - b[0])
        small, large = DlibRect(*by_side[0]), DlibRect(*by_side[-1])
        jitter = np.array([landmark_shift(model, img, large, small)
                           for img, g in zip(images, groups, strict=True) if g == video])
        print(f"detector's own jitter (neutral_to_smile boxes {tuple(large)} vs {tuple(small)}): "
              f"median {np.median(jitter):.4f}, max {jitter.max():.4f}")


if __name__ == "__main__":
    main()
