"""Real-face :class:`training.batch.Batch` es for the loss and objective tests.

The lab photos are aligned (``core.face.align``) to the config's resolution with their analyzer
meshes; the geometry image and flow are random (the losses do not read them, only G does).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.face.align import AlignConfig, align_face
from core.nets.config import GafetConfig
from tests.helpers.face import real_photo_and_mesh
from tests.helpers.nets import make_inputs
from training.batch import Batch

if TYPE_CHECKING:
    from tests.conftest import TestMedia

PHOTOS = ("happy.jpg", "surprise.jpg", "anger.jpg", "disgust.jpg")


@functools.cache
def _aligned(path_key: str, size: int, media: TestMedia) -> tuple[np.ndarray, np.ndarray]:
    photo, mesh = real_photo_and_mesh(media, path_key)
    face = align_face(photo, mesh, AlignConfig(size=size))
    return face.crop, face.landmarks


def aligned_faces(media: TestMedia, names: tuple[str, ...], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, R, R) float32 in [-1, 1] aligned crops and their (B, 468, 3) meshes in crop px."""
    crops, marks = zip(*(_aligned(n, size, media) for n in names), strict=True)
    images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return images, torch.from_numpy(np.stack(marks)).float()


def real_batch(media: TestMedia, cfg: GafetConfig, *, paired: bool, size: int = 2, seed: int = 0) -> Batch:
    """paired: source = a blurred copy of each face (a stand-in X_n), reference = the face (X).
    Unpaired: source = faces 0..B-1, reference = the next faces (Y)."""
    r = cfg.resolution
    names = PHOTOS[:size]
    images, marks = aligned_faces(media, names, r)
    inputs = make_inputs(cfg, size, seed=seed)
    if paired:
        source = torch.nn.functional.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
        reference, ref_marks, target_marks = images, marks, marks
    else:
        others = PHOTOS[size:2 * size] if 2 * size <= len(PHOTOS) else tuple(reversed(names))
        ref_images, ref_marks = aligned_faces(media, others, r)
        source, reference, target_marks = images, ref_images, marks
    return Batch(source=source, reference=reference, geometry=inputs.geometry, flow=inputs.flow,
                 target_landmarks=target_marks, reference_landmarks=ref_marks, paired=paired)
