"""Light, deterministic augmentation of cached faces: a horizontal flip and a small colour jitter.

**Flip.** The crop is mirrored (x' = R - 1 - x in crop px, pixel centres at integers) and the
mesh with it: vertex i of the flipped face is the mirror image of vertex ``mirror[i]`` (the AU
model's mirror index: the left eye's corner becomes the right eye's). The fitted parameters are
transformed so that the model reproduces the flipped mesh exactly:

* expression: unchanged (the same AUs, mirrored);
* pose: with D = diag(-1, 1, 1) (the image mirror), M = the model-frame reflection about the
  mean face's symmetry plane x = c, i.e. p -> M p + k with k = (2c, 0, 0)::

      rotation' = D · R · M,   translation' = D · t + (R - 1, 0, 0) + s · D · R · k,   scale' = s

* identity: ``identity'[i] = refl(canonical[mirror[i]]) - μ[i] - Σ_k a_k B_k[i]``, where
  ``canonical = μ + identity + Σ a B`` and refl is the reflection above. The AU model's mean and
  rows are only approximately symmetric, so the identity absorbs their asymmetry (exactly).

**Colour jitter** (images in [-1, 1]): brightness b (added), contrast c (scaled about the image
mean), saturation s (scaled about the pixel's luma), clamped to the range. A pseudo-pair gets the
same flip and jitter on X_n and X; an unpaired reference Y gets its own.

Every draw comes from a ``numpy.random.Generator`` the dataset seeds per sample, so the same
seed gives the same augmentation in any DataLoader worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from training.data.records import FaceArrays

_LUMA = (0.299, 0.587, 0.114)  # Rec. 601 weights for the saturation jitter's grey


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Augmentation strengths (0 switches a part off)."""

    flip: float = 0.5  # probability of a horizontal flip
    brightness: float = 0.05  # b ~ U(-brightness, brightness), in [0, 1] image units
    contrast: float = 0.05  # c ~ U(1 - contrast, 1 + contrast)
    saturation: float = 0.05  # s ~ U(1 - saturation, 1 + saturation)

    def __post_init__(self) -> None:
        if not 0.0 <= self.flip <= 1.0 or min(self.brightness, self.contrast, self.saturation) < 0:
            raise ValueError(f"invalid AugmentConfig {self}")
        if max(self.contrast, self.saturation) >= 1.0:
            raise ValueError(f"contrast and saturation jitter must be < 1, got {self.contrast}, "
                             f"{self.saturation}")


NO_AUGMENT = AugmentConfig(flip=0.0, brightness=0.0, contrast=0.0, saturation=0.0)


class AugmentDraw(NamedTuple):
    """One draw: flip or not, and the colour jitter (brightness, contrast, saturation)."""

    flip: bool
    brightness: float
    contrast: float
    saturation: float


class MirrorModel(NamedTuple):
    """What a flip needs of the AU face model (float64): mirror (468,) int64, mean μ (468, 3),
    basis B (20, 468, 3), centre c of μ's symmetry plane x = c (model units)."""

    mirror: np.ndarray
    mean: np.ndarray
    basis: np.ndarray
    centre: float

    @classmethod
    def from_au_model(cls) -> MirrorModel:
        """From the built-in AU model (:func:`core.geometry.au.model_data.load_au_model_data`)."""
        from core.geometry.au.model_data import load_au_model_data

        d = load_au_model_data()
        mirror = np.asarray(d.mirror, np.int64)
        mean = np.asarray(d.mean, np.float64)
        centre = float(np.mean((mean[:, 0] + mean[mirror, 0]) / 2))
        return cls(mirror=mirror, mean=mean, basis=np.asarray(d.basis, np.float64), centre=centre)


def draw(config: AugmentConfig, rng: np.random.Generator) -> AugmentDraw:
    """Draw one augmentation (always four numbers from ``rng``, whatever is switched off)."""
    u = rng.random(4)
    return AugmentDraw(flip=bool(u[0] < config.flip),
                       brightness=float((2 * u[1] - 1) * config.brightness),
                       contrast=float(1 + (2 * u[2] - 1) * config.contrast),
                       saturation=float(1 + (2 * u[3] - 1) * config.saturation))


def flip_face(face: FaceArrays, model: MirrorModel) -> FaceArrays:
    """The face mirrored left-right, parameters included (module docstring). Returns new arrays."""
    size = face.image.shape[1]
    m = model.mirror
    d = np.array([-1.0, 1.0, 1.0])
    image = np.ascontiguousarray(np.asarray(face.image)[:, ::-1])
    lm = np.asarray(face.landmarks, np.float64)[m] * d
    lm[:, 0] += size - 1
    a = np.asarray(face.expression, np.float64)
    offsets = np.einsum("e,evc->vc", a, model.basis)  # Σ a_k B_k
    canonical = model.mean + np.asarray(face.identity, np.float64) + offsets
    reflected = canonical[m] * d
    reflected[:, 0] += 2 * model.centre
    identity = reflected - model.mean - offsets
    s = float(face.scale)
    rot = np.asarray(face.rotation, np.float64)
    dmat = np.diag(d)
    k = np.array([2 * model.centre, 0.0, 0.0])
    rotation = dmat @ rot @ dmat
    shift = np.array([size - 1.0, 0.0, 0.0])
    translation = dmat @ np.asarray(face.translation, np.float64) + shift + s * (dmat @ rot @ k)
    f32 = lambda x: np.array(x, dtype=np.float32, order="C")  # noqa: E731
    return FaceArrays(image=image, landmarks=f32(lm), expression=f32(a), identity=f32(identity),
                      scale=f32(face.scale), rotation=f32(rotation), translation=f32(translation))


def jitter_image(image: torch.Tensor, d: AugmentDraw) -> torch.Tensor:
    """(3, H, W) or (B, 3, H, W) float in [-1, 1] -> the colour-jittered image, clamped to [-1, 1]."""
    if d.brightness == 0.0 and d.contrast == 1.0 and d.saturation == 1.0:
        return image
    x = (image + 1) / 2
    x = x + d.brightness
    x = (x - x.mean(dim=(-3, -2, -1), keepdim=True)) * d.contrast + x.mean(dim=(-3, -2, -1), keepdim=True)
    luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(3, 1, 1)
    grey = (x * luma).sum(dim=-3, keepdim=True)
    x = grey + (x - grey) * d.saturation
    return x.clamp(0, 1) * 2 - 1
