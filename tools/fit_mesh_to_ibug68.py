"""Derive the map from the 468-point face mesh to the iBUG 68 landmarks, from real photos.

    OMP_NUM_THREADS=1 python tools/fit_mesh_to_ibug68.py [--every 12] [--out resources/mesh_ibug68.json]

FLAME's landmark fit (:mod:`core.geometry.flame.fit`) takes the iBUG 68 points; the project's
face-mesh network gives MediaPipe's 468. This finds, for each of the 68 points, the ``K`` mesh
vertices and the affine weights (summing to 1) whose combination best matches dlib's 68-point
shape predictor (the landmark judge, :mod:`core.judges.dlib_shape`) over every face of the test
media: the photos and every ``--every``-th frame of the two videos. Positions are compared in a
frame normalised per face (mesh eye-corner midpoint at 0, inter-ocular distance 1), so each face
counts the same whatever its size. Prints the per-point residual (RMS, % of the inter-ocular
distance) and writes the table as JSON (a fact measured here; no third-party data is stored).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

K = 3  # mesh vertices per iBUG point
PHOTOS = ("surprise.jpg", "happy.jpg", "anger.jpg", "disgust.jpg", "single_face.jpg", "multi_face.jpg",
          "bw_photo.jpg")
VIDEOS = ("sad_to_laugh.mp4", "neutral_to_smile.mp4")


def collect(every: int) -> tuple[np.ndarray, np.ndarray]:
    """(F, 468, 2) mesh xy and (F, 68, 2) dlib points, in each face's normalised frame."""
    import torch

    from core import assets
    from core.face.analyzer import FaceAnalyzer
    from core.face.mesh_roi import LEFT_EYE_CORNER, RIGHT_EYE_CORNER
    from core.io import load_photo
    from core.io.video import iter_frames
    from core.judges.dlib_box import dlib_box_from_mesh
    from core.judges.dlib_shape import load_dlib_shape_predictor, predict_landmarks

    torch.set_num_threads(1)
    assets.ensure(["test-media", "face-detector", "face-mesh", "identity-dlib"])
    analyzer = FaceAnalyzer()
    shape = load_dlib_shape_predictor()
    images = [load_photo(assets.asset_path("test-media", n)).rgb for n in PHOTOS]
    for name in VIDEOS:
        images += list(iter_frames(assets.asset_path("test-media", name), step=every))
    meshes, points = [], []
    for image in images:
        for face in analyzer.analyze(image):
            lm = face.landmarks.astype(np.float64)
            dl = predict_landmarks(shape, image, dlib_box_from_mesh(face.landmarks))
            centre = (lm[LEFT_EYE_CORNER, :2] + lm[RIGHT_EYE_CORNER, :2]) / 2
            iod = float(np.linalg.norm(lm[LEFT_EYE_CORNER, :2] - lm[RIGHT_EYE_CORNER, :2]))
            meshes.append((lm[:, :2] - centre) / iod)
            points.append((dl - centre) / iod)
    return np.stack(meshes), np.stack(points)


def fit(meshes: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """indices (68, K), weights (68, K) summing to 1, residual RMS (68,) in IOD units."""
    n_points = points.shape[1]
    indices = np.zeros((n_points, K), np.int64)
    weights = np.zeros((n_points, K))
    rms = np.zeros(n_points)
    for j in range(n_points):
        dist = np.linalg.norm(meshes - points[:, j:j + 1], axis=2).mean(axis=0)  # (468,)
        idx = np.argsort(dist)[:K]
        # min Σ_f ‖Σ_k w_k m_fk − d_f‖² s.t. Σ w = 1: eliminate w_K = 1 − Σ_{k<K} w_k.
        m = meshes[:, idx]  # (F, K, 2)
        a = (m[:, :-1] - m[:, -1:]).transpose(0, 2, 1).reshape(-1, K - 1)
        b = (points[:, j] - m[:, -1]).reshape(-1)
        w, *_ = np.linalg.lstsq(a, b, rcond=None)
        w = np.append(w, 1.0 - w.sum())
        pred = np.einsum("fkc,k->fc", m, w)
        indices[j], weights[j] = idx, w
        rms[j] = float(np.sqrt(((pred - points[:, j]) ** 2).sum(axis=1).mean()))
    return indices, weights, rms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=12, help="use every N-th video frame (default 12)")
    ap.add_argument("--out", type=Path, default=ROOT / "resources" / "mesh_ibug68.json")
    args = ap.parse_args()
    meshes, points = collect(args.every)
    indices, weights, rms = fit(meshes, points)
    print(f"faces: {len(meshes)}")
    print(f"residual RMS, % of the inter-ocular distance: median {100 * np.median(rms):.2f}, "
          f"max {100 * rms.max():.2f} (point {int(rms.argmax())}); jaw 0-16 median "
          f"{100 * np.median(rms[:17]):.2f}, inner 17-67 median {100 * np.median(rms[17:]):.2f}")
    doc = {
        "what": "iBUG-68 landmarks as affine combinations of MediaPipe 468-mesh vertices (weights sum to 1)",
        "made_by": "tools/fit_mesh_to_ibug68.py: least squares against dlib's 68-point shape predictor on "
                   f"{len(meshes)} faces of the test media",
        "indices": indices.tolist(),
        "weights": [[round(float(x), 6) for x in row] for row in weights],
        "rms_iod": [round(float(x), 5) for x in rms],
    }
    from core.io.atomic import atomic_write_text

    atomic_write_text(args.out, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
