"""Face alignment: a similarity transform from the 468-point mesh to a canonical R x R crop.

Framing follows the FFHQ recipe (Karras et al., ``recreate_aligned_images`` in the FFHQ dataset
tools), with its eye and mouth landmarks taken from the MediaPipe mesh, so crops match the
framing FFHQ-trained networks (StyleGAN2, the De-expression model) expect:

    e_l, e_r = mean of each eye's 16-point contour        (dlib: mean of the 6 eye points)
    m_l, m_r = mouth corners 61, 291                      (dlib: 48, 54)
    eye_avg = (e_l + e_r) / 2,   eye_to_eye = e_r - e_l
    eye_to_mouth = (m_l + m_r) / 2 - eye_avg
    x = eye_to_eye - rot90(eye_to_mouth),  normalised, times max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|)
    c = eye_avg + 0.1 eye_to_mouth;   crop = the square c +- x +- y (y = x turned 90°), side 2|x|

For a typical frontal face this puts the eye midpoint at y ~ 0.47 R, the mouth at ~ 0.75 R and the
chin near 0.95 R, horizontally centred, eyes level. ``AlignConfig.zoom`` > 1 frames tighter.

Point convention: pixel units, centre of the top-left pixel at (0, 0) (as ``cv2.warpAffine``);
the crop centre c maps to ((R - 1) / 2, (R - 1) / 2).

Warping resamples only the region of the photo the crop needs (a 24 MP photo costs no more than
its face), shrinks with area averaging first when the scale is below 1/2 (no aliasing), and
uses bicubic interpolation otherwise; outside the photo the border is mirrored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# MediaPipe face-mesh indices (468-point topology).
RIGHT_EYE_RING = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)  # image left
LEFT_EYE_RING = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
MOUTH_CORNERS = (61, 291)  # image left, image right
N_LANDMARKS = 468

_PRESHRINK_BELOW = 0.5  # scales below this are first area-averaged down to ~1:1
_KERNEL_MARGIN = 3  # px of source context the bicubic kernel needs around the sampled region


@dataclass(frozen=True, kw_only=True)
class AlignConfig:
    """How faces are framed in the crop (FFHQ's constants by default)."""

    size: int = 512  # R: crop side in px (256, 512, 1024 in the paper's models)
    eye_scale: float = 2.0  # half-side >= eye_scale * |eye_to_eye|      (FFHQ 2.0)
    mouth_scale: float = 1.8  # half-side >= mouth_scale * |eye_to_mouth|  (FFHQ 1.8)
    centre_shift: float = 0.1  # c = eye_avg + centre_shift * eye_to_mouth  (FFHQ 0.1)
    zoom: float = 1.0  # > 1: the face fills more of the crop
    interpolation: int = cv2.INTER_CUBIC  # cv2 flag for the resampling

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"AlignConfig.size must be >= 8, got {self.size}")
        if min(self.eye_scale, self.mouth_scale, self.zoom) <= 0:
            raise ValueError(
                f"eye_scale, mouth_scale and zoom must be > 0, got {self.eye_scale}, "
                f"{self.mouth_scale}, {self.zoom}"
            )


@dataclass(frozen=True, eq=False, kw_only=True)
class AlignedFace:
    """A face resampled into the canonical crop.

    crop:      (R, R, 3) uint8 RGB.
    matrix:    (2, 3) float64, photo px -> crop px (a similarity: rotation, uniform scale, shift).
    inverse:   (2, 3) float64, crop px -> photo px.
    landmarks: (468, 3) float32, the mesh in crop px (z multiplied by the same scale as x, y).
    size:      R.
    """

    crop: np.ndarray
    matrix: np.ndarray
    inverse: np.ndarray
    landmarks: np.ndarray
    size: int

    @property
    def scale(self) -> float:
        """Crop px per photo px (> 1 when the face is smaller in the photo than in the crop)."""
        return matrix_scale(self.matrix)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo points (N, 2|3) -> crop points, float64 (z scaled)."""
        return map_points(points, self.matrix)

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Crop points (N, 2|3) -> photo points, float64 (z scaled)."""
        return map_points(points, self.inverse)


def alignment_matrix(landmarks: np.ndarray, config: AlignConfig = AlignConfig()) -> np.ndarray:
    """The (2, 3) float64 photo -> crop similarity for a mesh.

    landmarks: (468, 2|3) photo px (MediaPipe topology; only x, y are used).
    Raises ValueError for a wrong shape, non-finite points or a degenerate face (eyes and mouth
    collapsed to a point).
    """
    pts = _check_landmarks(landmarks)
    eye_l = pts[list(RIGHT_EYE_RING)].mean(axis=0)
    eye_r = pts[list(LEFT_EYE_RING)].mean(axis=0)
    eye_avg = (eye_l + eye_r) / 2
    eye_to_eye = eye_r - eye_l
    eye_to_mouth = (pts[MOUTH_CORNERS[0]] + pts[MOUTH_CORNERS[1]]) / 2 - eye_avg

    x_axis = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    norm = float(np.hypot(*x_axis))
    half = max(np.hypot(*eye_to_eye) * config.eye_scale, np.hypot(*eye_to_mouth) * config.mouth_scale)
    half /= config.zoom
    if norm < 1e-6 or half < 1e-6:
        raise ValueError(f"degenerate face landmarks: eye distance {np.hypot(*eye_to_eye):.3g} px, "
                         f"eye-to-mouth {np.hypot(*eye_to_mouth):.3g} px")
    cos, sin = x_axis / norm
    centre = eye_avg + config.centre_shift * eye_to_mouth
    k = config.size / (2.0 * half)
    rot = k * np.array([[cos, sin], [-sin, cos]])  # rows: the crop's x and y axes in photo coordinates
    mid = (config.size - 1) / 2.0
    return np.hstack([rot, (np.array([mid, mid]) - rot @ centre)[:, None]])


def align_face(image: np.ndarray, landmarks: np.ndarray, config: AlignConfig = AlignConfig()) -> AlignedFace:
    """Resample the face described by ``landmarks`` into an R x R crop.

    image:     (H, W, 3) uint8 RGB photo (any size; only the face region is read).
    landmarks: (468, 2|3) photo px.
    """
    _check_image(image, "image")
    matrix = alignment_matrix(landmarks, config)
    crop = warp_affine(image, matrix, (config.size, config.size), interpolation=config.interpolation)
    lms = np.asarray(landmarks, dtype=np.float64)
    if lms.shape[1] == 2:
        lms = np.hstack([lms, np.zeros((lms.shape[0], 1))])
    return AlignedFace(
        crop=crop,
        matrix=matrix,
        inverse=cv2.invertAffineTransform(matrix),
        landmarks=map_points(lms, matrix).astype(np.float32),
        size=config.size,
    )


def map_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to points (N, 2) or (N, 3); a third column (depth) is multiplied by
    the transform's scale. Returns float64 of the same shape."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise ValueError(f"points: expected (N, 2) or (N, 3), got {pts.shape}")
    out = pts.copy()
    out[:, :2] = pts[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    if pts.shape[1] == 3:
        out[:, 2] = pts[:, 2] * matrix_scale(matrix)
    return out


def matrix_scale(matrix: np.ndarray) -> float:
    """Uniform scale of a (2, 3) affine: sqrt(|det|) of its linear part."""
    return math.sqrt(abs(float(np.linalg.det(np.asarray(matrix, dtype=np.float64)[:, :2]))))


def warp_affine(
    src: np.ndarray,
    matrix: np.ndarray,
    dsize: tuple[int, int],
    *,
    interpolation: int = cv2.INTER_CUBIC,
    border: int = cv2.BORDER_REFLECT_101,
) -> np.ndarray:
    """``cv2.warpAffine`` that reads only the part of ``src`` the output needs, area-averages first
    when shrinking below 1/2, and mirrors at the source's edges.

    src:    (H, W[, C]) uint8 or float32.
    matrix: (2, 3) src px -> dst px.  dsize: (width, height) of the output.
    Returns (height, width[, C]) of src's dtype. Equal to a plain ``cv2.warpAffine`` of the
    whole ``src`` up to the pre-shrink, except where mirroring would need more than one bounce.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (2, 3):
        raise ValueError(f"matrix: expected (2, 3), got {matrix.shape}")
    out_w, out_h = int(dsize[0]), int(dsize[1])
    if out_w < 1 or out_h < 1:
        raise ValueError(f"dsize must be positive, got {dsize}")
    scale = matrix_scale(matrix)
    if scale < 1e-9:
        raise ValueError(f"matrix is singular: {matrix.tolist()}")

    x0, y0, x1, y1 = _source_window(src.shape[:2], matrix, out_w, out_h, scale)
    local = matrix.copy()
    local[:, 2] += matrix[:, :2] @ (x0, y0)  # roi px -> dst px
    roi, local = shrink_source(src[y0:y1, x0:x1], local)
    return cv2.warpAffine(roi, local, (out_w, out_h), flags=interpolation, borderMode=border)


def shrink_source(src: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area-average ``src`` down when ``matrix`` (src px -> dst px) shrinks by more than 2x.

    Returns (src', matrix') with matrix' mapping src' px to the same dst px, so that resampling
    src' with matrix' needs a scale of about 1 (no aliasing). Unchanged when the scale >= 1/2.
    """
    scale = matrix_scale(matrix)
    if scale >= _PRESHRINK_BELOW:
        return src, matrix
    small_w = max(1, round(src.shape[1] * scale))
    small_h = max(1, round(src.shape[0] * scale))
    fx, fy = small_w / src.shape[1], small_h / src.shape[0]
    small = cv2.resize(src, (small_w, small_h), interpolation=cv2.INTER_AREA)
    # small px -> src px under cv2.resize's pixel-centre convention
    up = np.array([[1 / fx, 0.0, 0.5 / fx - 0.5], [0.0, 1 / fy, 0.5 / fy - 0.5], [0.0, 0.0, 1.0]])
    return small, matrix @ up


def _source_window(
    shape: tuple[int, int], matrix: np.ndarray, out_w: int, out_h: int, scale: float
) -> tuple[int, int, int, int]:
    """Integer window [x0, x1) x [y0, y1) of the source that the warp reads (kernel margin, and
    enough photo beside an edge that a single mirror bounce stays inside the window)."""
    height, width = shape
    inv = cv2.invertAffineTransform(matrix)
    corners = np.array([[-0.5, -0.5], [out_w - 0.5, -0.5], [-0.5, out_h - 0.5], [out_w - 0.5, out_h - 0.5]])
    src_pts = corners @ inv[:, :2].T + inv[:, 2]
    margin = _KERNEL_MARGIN * max(1.0, 1.0 / scale)
    lo = np.floor(src_pts.min(axis=0) - margin)
    hi = np.ceil(src_pts.max(axis=0) + margin) + 1
    x0, x1 = _clip_span(lo[0], hi[0], width)
    y0, y1 = _clip_span(lo[1], hi[1], height)
    return x0, y0, x1, y1


def _clip_span(lo: float, hi: float, n: int) -> tuple[int, int]:
    """Clip [lo, hi) to [0, n), widening it so that a one-bounce mirror of the overhang fits."""
    a, b = max(0, int(lo)), min(n, int(hi))
    if lo < 0:
        b = max(b, min(n, int(-lo) + 1))
    if hi > n:
        a = min(a, max(0, n - int(hi - n) - 1))
    if b <= a:  # the window lies wholly outside: keep the nearest edge strip
        a, b = (0, min(n, 2)) if hi <= 0 else (max(0, n - 2), n)
    return a, b


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != N_LANDMARKS or pts.shape[1] not in (2, 3):
        raise ValueError(f"landmarks: expected ({N_LANDMARKS}, 2|3) MediaPipe mesh, got {pts.shape}")
    if not np.isfinite(pts[:, :2]).all():
        raise ValueError("landmarks contain NaN or infinite values")
    return pts[:, :2]


def _check_image(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name}: expected (H, W, 3) uint8 RGB, got {got}")
