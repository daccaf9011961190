"""dlib's 68-point face landmarks (``shape_predictor_68_face_landmarks.dat``) in numpy, no dlib needed.

The model is an ensemble of regression trees (Kazemi & Sullivan, "One millisecond face alignment
with an ensemble of regression trees", CVPR 2014), as dlib's ``shape_predictor`` runs it
(``dlib/image_processing/shape_predictor.h``). Shapes live in the unit square of the face box
(x right, y down); the box maps them to photo px (:func:`unit_to_photo`). Starting from the mean
shape, each of C = 15 cascades

1. fits the similarity (rotation and scale only, Umeyama) from the mean shape to the current
   shape, and places its F = 500 feature pixels: pixel i sits at
   ``similarity @ delta_i + shape[anchor_i]``, mapped to photo px and rounded to the nearest
   pixel; its value is the pixel's grey intensity (0 outside the photo);
2. runs its T = 500 depth-4 trees: at node j a tree goes to child 2j+1 when
   ``value[idx1] - value[idx2] > threshold`` else to 2j+2; each reached leaf holds an increment
   of the whole shape, added to it tree by tree.

The last shape, mapped to photo px, is the result. dlib rounds it to whole pixels
(``full_object_detection`` holds integer points); :func:`predict_landmarks` returns the
unrounded float points (``np.floor(points + 0.5)`` gives dlib's). The arithmetic follows dlib's
types (float32 shapes, similarity and feature offsets; float64 box mapping), so the features and
every tree's path are dlib's: on the real test photos and video frames the rounded points equal
dlib-bin 20.0.1's exactly (``tests/core/judges/test_dlib_shape.py``).

Grey intensity of an RGB pixel is dlib's ``(r + g + b) / 3`` in integers. The face box is a
:class:`DlibRect` (dlib's ``rectangle``: integer, inclusive corners). dlib's model was trained on
the boxes of its HOG frontal face detector; :mod:`core.judges.dlib_box` derives such a box from
the project's face mesh.

Point order (iBUG 300-W, 0-based): jaw 0-16, brows 17-21 and 22-26 (image left, right), nose
27-35, eyes 36-41 and 42-47 (image left, right), outer lips 48-59, inner lips 60-67.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from core.judges.dlib_dat import DlibShapeModel, read_shape_predictor
from core.judges.errors import JudgeWeightsError, judge_file

ASSET = "identity-dlib"
WEIGHTS = "shape_predictor_68_face_landmarks.dat"
JUDGE = "landmark judge (dlib's 68-point shape predictor)"
NUM_POINTS = 68


class DlibRect(NamedTuple):
    """dlib's ``rectangle``: integer photo px, corners inclusive (width = right - left + 1)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    def as_array(self) -> np.ndarray:
        """(4,) float64 x0, y0, x1, y1 with x1, y1 exclusive (the project's box convention)."""
        return np.array([self.left, self.top, self.right + 1, self.bottom + 1], dtype=np.float64)


def check_rect(rect: DlibRect | tuple[int, int, int, int]) -> DlibRect:
    """A :class:`DlibRect` of whole numbers with right > left and bottom > top, else ValueError."""
    values = tuple(rect)
    if len(values) != 4 or any(int(v) != v for v in values):
        raise ValueError(f"rect: expected four whole numbers left, top, right, bottom, got {values}")
    r = DlibRect(*(int(v) for v in values))
    if r.right <= r.left or r.bottom <= r.top:
        raise ValueError(f"rect: empty box {tuple(r)}")
    return r


def unit_to_photo(points: np.ndarray, rect: DlibRect) -> np.ndarray:
    """(..., 2) unit-box coordinates -> float64 photo px (dlib's ``unnormalizing_tform``:
    (0, 0) is the box's top-left pixel, (1, 1) its bottom-right pixel)."""
    p = np.asarray(points, dtype=np.float64)
    scale = np.array([rect.right - rect.left, rect.bottom - rect.top], dtype=np.float64)
    return p * scale + np.array([rect.left, rect.top], dtype=np.float64)


def similarity_2x2(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation-and-scale part of the least-squares similarity ``source -> target``
    (Umeyama 1991, eqs. 34-43, as dlib's ``find_similarity_transform``), computed in float64 and
    returned as dlib keeps it: (2, 2) float32. source, target: (P, 2) points."""
    a = np.asarray(source, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    da, db = a - a.mean(axis=0), b - b.mean(axis=0)
    sigma_a = float(np.mean(np.sum(da * da, axis=1)))
    cov = db.T @ da / len(a)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[1, 1] = -1.0  # flip the smaller singular value (numpy sorts them)
    r = u @ s @ vt
    c = float(np.trace(np.diag(d) @ s)) / sigma_a if sigma_a != 0 else 1.0
    return (c * r).astype(np.float32)


def grey_intensity(image: np.ndarray) -> np.ndarray:
    """dlib's ``get_pixel_intensity``: (H, W) uint8 as is, (H, W, 3) uint8 RGB -> (r + g + b) // 3."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        got = f"{img.dtype} {img.shape}"
        raise ValueError(f"image: expected (H, W) grey or (H, W, 3) RGB uint8, got {got}")
    if img.ndim == 2:
        return img
    return (img.astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)


def _feature_values(grey: np.ndarray, rect: DlibRect, shape: np.ndarray, model: DlibShapeModel,
                    cascade: int) -> np.ndarray:
    """(F,) float32 grey values of one cascade's feature pixels for the current (P, 2) float32 shape."""
    m = similarity_2x2(model.initial_shape, shape)
    d = model.deltas[cascade]
    # float32 as dlib: matrix<float,2,2> * vector<float,2>, then + the anchor landmark
    offset = np.stack([m[0, 0] * d[:, 0] + m[0, 1] * d[:, 1], m[1, 0] * d[:, 0] + m[1, 1] * d[:, 1]], axis=1)
    unit = offset + shape[model.anchor_idx[cascade]]
    px = np.floor(unit_to_photo(unit, rect) + 0.5).astype(np.int64)
    h, w = grey.shape
    inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    values = np.zeros(len(px), dtype=np.float32)
    values[inside] = grey[px[inside, 1], px[inside, 0]]
    return values


def predict_unit_shape(model: DlibShapeModel, grey: np.ndarray, rect: DlibRect) -> np.ndarray:
    """The cascade on a (H, W) uint8 grey image -> (P, 2) float32 shape in the unit box."""
    shape = model.initial_shape.copy()
    cascades, trees, splits = model.split_thresholds.shape
    tree_ids = np.arange(trees)
    for c in range(cascades):
        values = _feature_values(grey, rect, shape, model, c)
        node = np.zeros(trees, dtype=np.int64)
        while node[0] < splits:  # complete trees: every path has the same depth
            idx = model.split_pixels[c, tree_ids, node]
            left = values[idx[:, 0]] - values[idx[:, 1]] > model.split_thresholds[c, tree_ids, node]
            node = 2 * node + np.where(left, 1, 2)
        increments = model.leaf_values[c, tree_ids, node - splits]
        for t in range(trees):  # dlib adds tree by tree in float32; keep that order
            shape += increments[t]
    return shape


def predict_landmarks(model: DlibShapeModel, image: np.ndarray, rect: DlibRect | tuple[int, int, int, int]
                      ) -> np.ndarray:
    """The landmarks of the face in ``rect``.

    image: (H, W) uint8 grey or (H, W, 3) uint8 RGB; rect: dlib's box of the face (see
    :class:`DlibRect`). Returns (P, 2) float64 photo px (x, y), P = 68 for dlib's 68-point model,
    unrounded (dlib's own output is ``np.floor(points + 0.5)``).
    """
    r = check_rect(rect)
    return unit_to_photo(predict_unit_shape(model, grey_intensity(image), r), r)


def load_dlib_shape_predictor() -> DlibShapeModel:
    """dlib's 68-point model from the asset ``identity-dlib`` (about 4 s to read, 70 MB in memory).

    Raises :class:`~core.judges.errors.JudgeAssetMissingError` (naming ``gafet assets fetch
    identity-dlib``) when not installed, :class:`~core.judges.errors.JudgeWeightsError` when the
    file is not a 68-point shape predictor.
    """
    model = read_shape_predictor(judge_file(ASSET, WEIGHTS, JUDGE))
    if model.num_parts != NUM_POINTS:
        raise JudgeWeightsError(f"{WEIGHTS}: a {model.num_parts}-point shape predictor; expected 68 points.")
    return model
