"""Faces in photos: detection, verification and the 468-point 3D mesh, in photo px.

``FaceAnalyzer`` is the entry point the rest of the app uses:

* ``detect(image) -> list[Detection]``: multi-scale BlazeFace (:mod:`core.face.detector`);
  with ``verify=True`` each candidate must also pass the mesh network's face-presence score;
* ``analyze(image) -> list[Face]``: the mesh for every detection whose face-presence score is at
  least ``min_presence``: a rotated 1.5x crop around the detection (eyes level), a second pass
  re-cropped from the first mesh (``refine``), landmarks mapped back to photo px with z scaled
  like x / y. Faces the detector finds but the mesh network rejects (near-profile faces, or
  look-alikes such as a holster) are left out: their meshes would not be usable;
* ``analyze_one(image, face_index)``: one face, raising :class:`NoFaceError` /
  :class:`FaceIndexError`.

Results are sorted left to right by box centre. Networks are built once per process and device
(:func:`load_face_models`) and shared; treat them as read-only (build private copies with
``FaceMeshNet.from_asset()`` to train or move them). For differentiable use (training losses),
call ``FaceAnalyzer.mesh_net.mesh_from_rois(images, rois)`` or ``FaceMeshNet.forward(crops)``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import cv2
import numpy as np
import torch

from core.face.blazeface import FULL_RANGE, SHORT_RANGE, BlazeFace
from core.face.detector import DetectorConfig, FaceDetector
from core.face.errors import FaceIndexError, NoFaceError
from core.face.facemesh_net import FaceMeshNet
from core.face.image_checks import check_rgb_uint8
from core.face.mesh_roi import crop_rois, crop_to_photo, roi_from_detection, roi_from_landmarks, shrink_roi
from core.face.types import Detection, Face


class FaceModels(NamedTuple):
    short_range: BlazeFace
    full_range: BlazeFace
    mesh: FaceMeshNet


@functools.lru_cache(maxsize=4)
def _load_models(device: str) -> FaceModels:
    dev = torch.device(device)
    return FaceModels(
        short_range=BlazeFace.from_asset(SHORT_RANGE).to(dev).eval(),
        full_range=BlazeFace.from_asset(FULL_RANGE).to(dev).eval(),
        mesh=FaceMeshNet.from_asset().to(dev).eval(),
    )


def load_face_models(device: str | torch.device = "cpu") -> FaceModels:
    """The face networks on ``device``, built from the assets once per process and device.
    Raises core.assets.AssetMissingError when the face assets are not installed."""
    return _load_models(str(torch.device(device)))


class MeshResult(NamedTuple):
    landmarks: np.ndarray  # (N, 468, 3) float32 photo px
    presence: np.ndarray  # (N,) float32 in [0, 1]


def _block_mean(patch: np.ndarray, k: int, band_bytes: int = 1 << 24) -> np.ndarray:
    """(H, W, 3) uint8 with H, W multiples of k -> (H/k, W/k, 3) float32 k x k block means in
    [0, 1], computed in float32 bands of about ``band_bytes`` (bounded memory for huge faces)."""
    h, w = patch.shape[:2]
    rows = max(k, band_bytes // (w * 3 * 4) // k * k)
    out = np.empty((h // k, w // k, 3), np.float32)
    for r0 in range(0, h, rows):
        band = patch[r0:r0 + rows].astype(np.float32)
        out[r0 // k:(r0 + band.shape[0]) // k] = cv2.resize(band, (w // k, band.shape[0] // k),
                                                           interpolation=cv2.INTER_AREA)
    return out * (1.0 / 255.0)


def _patch_crop(image: np.ndarray, roi: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """The (1, 3, size, size) float [0, 1] crop of one ROI, cut from a local patch of the uint8
    photo (bounded memory for huge photos), box-filtered like ``crop_rois(antialias=True)``."""
    h, w = image.shape[:2]
    cx, cy, side, ang = (float(v) for v in roi)
    k = int(side / size)
    k = k if k >= 2 else 1
    half = side / 2 * (abs(math.cos(ang)) + abs(math.sin(ang))) + 2 * k
    x0 = min(max(int(math.floor(cx - half)) // k * k, 0), max(w - k, 0) // k * k)
    y0 = min(max(int(math.floor(cy - half)) // k * k, 0), max(h - k, 0) // k * k)
    x1 = min(max(int(math.ceil(cx + half)) + 1, x0 + k), w)
    y1 = min(max(int(math.ceil(cy + half)) + 1, y0 + k), h)
    patch = image[y0:y1, x0:x1]
    local = torch.tensor([cx - x0, cy - y0, side, ang], dtype=torch.float32)
    ph, pw = patch.shape[0] // k * k, patch.shape[1] // k * k
    if k >= 2 and ph and pw:
        small = _block_mean(patch[:ph, :pw], k)
        local = shrink_roi(local, k)
    else:
        small = patch.astype(np.float32) * (1.0 / 255.0)
    t = torch.from_numpy(small).to(device).permute(2, 0, 1)[None]
    return crop_rois(t, local[None].to(device), size=size, antialias=False)


class FaceAnalyzer:
    """Detection + mesh for (H, W, 3) uint8 RGB photos (see the module docstring)."""

    def __init__(self, *, device: str | torch.device = "cpu", min_score: float = 0.5, max_side: int = 1920,
                 min_presence: float = 0.5, refine: bool = True, models: FaceModels | None = None) -> None:
        """device: where the networks run; min_score: detection threshold (see DetectorConfig);
        max_side: photos are detected on a copy with at most this long side (px); min_presence:
        mesh face-presence needed to keep a face; refine: second mesh pass; models: networks to use
        instead of the shared ones of ``load_face_models(device)`` (already on ``device``)."""
        if not 0.0 <= min_presence < 1.0:
            raise ValueError(f"min_presence must be in [0, 1), got {min_presence}")
        self.device = torch.device(device)
        models = models if models is not None else load_face_models(self.device)
        self.detector = FaceDetector(short_range=models.short_range, full_range=models.full_range,
                                     config=DetectorConfig(min_score=min_score, max_side=max_side))
        self.mesh_net = models.mesh
        self.min_presence = min_presence
        self.refine = refine

    @torch.inference_mode()
    def mesh(self, image: np.ndarray, rois: np.ndarray) -> MeshResult:
        """Mesh for given ROIs. image: (H, W, 3) uint8 RGB; rois: (N, 4) [cx, cy, side, angle] photo
        px / radians (see core.face.mesh_roi) -> landmarks (N, 468, 3) photo px, presence (N,)."""
        check_rgb_uint8(image)
        rois = np.asarray(rois, np.float32)
        if rois.ndim != 2 or rois.shape[1] != 4:
            raise ValueError(f"rois: expected (N, 4), got {rois.shape}")
        if len(rois) == 0:
            return MeshResult(np.zeros((0, 468, 3), np.float32), np.zeros(0, np.float32))
        size = FaceMeshNet.INPUT_SIZE
        crops = torch.cat([_patch_crop(image, r, size, self.device) for r in rois])
        out = self.mesh_net(crops)
        lm = crop_to_photo(out.landmarks, torch.tensor(rois, device=self.device), size)
        return MeshResult(lm.cpu().numpy(), out.presence.cpu().numpy())

    def _verified(self, image: np.ndarray) -> tuple[list[Detection], MeshResult]:
        """Detections whose first-pass mesh has presence >= min_presence, left to right, with that mesh."""
        dets = self.detector.detect(image)
        if not dets:
            return [], self.mesh(image, np.zeros((0, 4), np.float32))
        res = self.mesh(image, np.stack([roi_from_detection(d) for d in dets]))
        keep = np.flatnonzero(res.presence >= self.min_presence)
        keep = sorted(keep, key=lambda i: float(dets[i].centre[0]))
        idx = np.asarray(keep, np.int64)
        return [dets[i] for i in keep], MeshResult(res.landmarks[idx], res.presence[idx])

    def detect(self, image: np.ndarray, *, verify: bool = False) -> list[Detection]:
        """image: (H, W, 3) uint8 RGB -> detections in photo px, left to right.
        verify: keep only faces the mesh network accepts (presence >= min_presence), as analyze() does."""
        if verify:
            return self._verified(image)[0]
        return sorted(self.detector.detect(image), key=lambda d: float(d.centre[0]))

    def analyze(self, image: np.ndarray) -> list[Face]:
        """image: (H, W, 3) uint8 RGB -> faces with meshes, left to right (empty list: no face)."""
        dets, res = self._verified(image)
        if not dets:
            return []
        lm, pres = res.landmarks, res.presence
        if self.refine:
            second = self.mesh(image, np.stack([roi_from_landmarks(x) for x in lm]))
            better = second.presence >= self.min_presence  # keep the first pass where the second fails
            lm = np.where(better[:, None, None], second.landmarks, lm)
            pres = np.where(better, second.presence, pres)
        return [Face(detection=d, landmarks=lm[i], presence=float(pres[i])) for i, d in enumerate(dets)]

    def analyze_one(self, image: np.ndarray, face_index: int = 0) -> Face:
        """The face at ``face_index`` (0 = leftmost). Raises NoFaceError when the photo has no face,
        FaceIndexError (a NoFaceError) when the index is out of range."""
        faces = self.analyze(image)
        if not faces:
            raise NoFaceError("No face was found in the photo. Try a photo where the face is larger, "
                              "lit from the front and not covered.")
        if not -len(faces) <= face_index < len(faces):
            raise FaceIndexError(f"Face index {face_index} is out of range: the photo has {len(faces)} "
                                 f"face{'s' if len(faces) != 1 else ''} (indices 0 to {len(faces) - 1}, "
                                 f"left to right).")
        return faces[face_index]
