"""dlib's 150x150 five-point face chip (``dlib.get_face_chip(img, shape, 150, 0.25)``), from the mesh.

dlib aligns a face for its recognition network from five landmarks of its 5-point shape predictor
(``get_face_chip_details`` in ``dlib/image_transforms/interpolation.h``):

    0, 1: the outer and inner corners of the eye on the image's right (the person's left eye);
    2, 3: the outer and inner corners of the eye on the image's left;
    4:    the base of the nose (subnasale).

It fits a least-squares similarity from a padded template of those points to the landmarks, and
samples the chip bilinearly (black outside the photo; through an image pyramid when it shrinks by
more than 2x). Here the five points come from the project's 468-point MediaPipe mesh
(:data:`MESH_FIVE_POINTS`: eye corners 263, 362, 33, 133 and the nose base 2), so no dlib runtime is
needed; the chip geometry is dlib's, and shrinking uses area averaging instead of dlib's pyramid.

Point convention: photo and chip px with the centre of the top-left pixel at (0, 0), as dlib and
``cv2.warpAffine``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.checks import assert_shape
from core.face.align import warp_affine

MESH_FIVE_POINTS = (263, 362, 33, 133, 2)  # MediaPipe mesh indices in dlib's 5-point order
CHIP_SIZE = 150  # the recognition network's input side (input_rgb_image_sized<150>)
CHIP_PADDING = 0.25  # face_recognition_model_v1.compute_face_descriptor's default padding
# dlib's 5-point template (get_face_chip_details), in units of the unpadded chip side.
_TEMPLATE = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])


@dataclass(frozen=True, eq=False)
class FaceChip:
    """A face resampled as dlib's recognition network expects it.

    image:  (S, S, 3) uint8 RGB, S = 150 by default.
    matrix: (2, 3) float64, photo px -> chip px.
    """

    image: np.ndarray
    matrix: np.ndarray


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """dlib's five points from a face mesh. landmarks: (468, 2|3) photo px -> (5, 2) float64."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != 468 or pts.shape[1] not in (2, 3):
        raise ValueError(f"landmarks: expected (468, 2|3) MediaPipe mesh, got {pts.shape}")
    out = pts[list(MESH_FIVE_POINTS), :2]
    if not np.isfinite(out).all():
        raise ValueError("landmarks: the five alignment points contain NaN or infinite values")
    return out


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping src (N, 2) to dst (N, 2): (2, 3) float64."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(sig) @ sign)) / var_s
    lin = scale * rot
    return np.hstack([lin, (mu_d - lin @ mu_s)[:, None]])


def chip_matrix(points: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """dlib's chip placement for five points. points: (5, 2) photo px in dlib's order (see
    :func:`five_points`) -> (2, 3) float64 photo px -> chip px.

    As dlib: a similarity from the padded template (chip px) to the points gives a rotation angle,
    a scale and the photo position of the chip point (S/2, S/2); the chip's corner pixels then map
    to the corners of an S*scale - 1 wide square about that position.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (5, 2) or not np.isfinite(pts).all():
        raise ValueError(f"points: expected finite (5, 2), got {pts.shape}")
    if size < 2 or padding < 0:
        raise ValueError(f"size must be >= 2 and padding >= 0, got {size}, {padding}")
    template = (padding + _TEMPLATE) / (2 * padding + 1) * size
    to_photo = similarity_matrix(template, pts)
    p = to_photo[:, :2] @ (1.0, 0.0)
    angle, scale = math.atan2(p[1], p[0]), math.hypot(p[0], p[1])
    if scale < 1e-9:
        raise ValueError(f"points are degenerate (all at one place): {pts.tolist()}")
    centre = to_photo[:, :2] @ (size / 2, size / 2) + to_photo[:, 2]
    step = (size * scale - 1) / (size - 1)  # photo px per chip px
    c, s = math.cos(angle), math.sin(angle)
    lin = step * np.array([[c, -s], [s, c]])
    chip_to_photo = np.hstack([lin, (centre - lin @ ((size - 1) / 2, (size - 1) / 2))[:, None]])
    return cv2.invertAffineTransform(chip_to_photo)


def face_chip(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE,
              padding: float = CHIP_PADDING) -> FaceChip:
    """The dlib chip of one face. image: (H, W, 3) uint8 RGB; landmarks: (468, 2|3) photo px."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image: expected (H, W, 3) uint8 RGB, got {got}")
    matrix = chip_matrix(five_points(landmarks), size, padding)
    chip = warp_affine(image, matrix, (size, size), interpolation=cv2.INTER_LINEAR,
                       border=cv2.BORDER_CONSTANT)
    return FaceChip(image=chip, matrix=matrix)


def warp_chips(images: torch.Tensor, matrices: torch.Tensor, size: int = CHIP_SIZE) -> torch.Tensor:
    """Differentiable chips of a batch (bilinear, zeros outside; no anti-aliasing, so use it on
    faces no more than about 2x the chip's scale).

    images: (B, C, H, W) float, any range; matrices: (B, 2, 3) photo px -> chip px (as from
    :func:`chip_matrix`). Returns (B, C, size, size), same dtype and device as ``images``.
    """
    dims = assert_shape(images, ("B", "C", "H", "W"), "images")
    assert_shape(matrices, (dims["B"], 2, 3), "matrices")
    height, width = dims["H"], dims["W"]
    m = matrices.to(images.device, torch.float64)
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, device=images.device).expand(len(m), 1, 3)
    inv = torch.linalg.inv(torch.cat([m, bottom], dim=1))[:, :2]  # chip px -> photo px
    # chip normalised [-1, 1] (align_corners=True) -> chip px, and photo px -> photo normalised
    half = (size - 1) / 2
    to_px = torch.tensor([[half, 0.0, half], [0.0, half, half], [0.0, 0.0, 1.0]], dtype=torch.float64,
                         device=images.device)
    to_norm = torch.tensor([[2 / (width - 1), 0.0, -1.0], [0.0, 2 / (height - 1), -1.0]],
                           dtype=torch.float64, device=images.device)
    theta = to_norm @ torch.cat([inv, bottom], dim=1) @ to_px
    grid = F.affine_grid(theta.to(images.dtype), [len(m), dims["C"], size, size], align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def run_on_chips(net: torch.nn.Module, chips: np.ndarray, size: int) -> np.ndarray:
    """Run a judge network on uint8 chips without gradients, on the network's device.

    chips: (B, size, size, 3) or (size, size, 3) uint8 RGB -> the network's (B, D) or (D,) float32
    output (the network takes (B, 3, size, size) float in [0, 255]). Raises ValueError otherwise.
    """
    arr = np.asarray(chips)
    single = arr.ndim == 3
    batch = arr[None] if single else arr
    if batch.ndim != 4 or batch.shape[1:] != (size, size, 3) or batch.dtype != np.uint8:
        raise ValueError(f"chips: expected (B, {size}, {size}, 3) uint8 RGB, got {arr.dtype} {arr.shape}")
    device = next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        out = net(x).cpu().numpy()
    return out[0] if single else out
