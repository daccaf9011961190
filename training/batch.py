"""One training batch, as the objective reads it (paper §3.5: pseudo-pairs and unpaired pairs).

The data pipeline fills a :class:`Batch` on the training device; :mod:`training.objective` reads it.
Images are aligned face crops at the network resolution R (``config.net.resolution``).

* Pseudo-paired batch (``paired=True``): source = X_n (X with its expression removed by the
  neutraliser), reference = X (also the reconstruction target of Eq. 1).
* Unpaired batch (``paired=False``): source = X_n, reference = Y (another face).
* "w/o De-exp" (Table 3): source = X itself (no neutraliser); the rest is the same.

The geometry image and the flow describe the *target* face: the source's identity and pose with
the reference's expression (§3.1), rendered at R (:func:`core.render.geometry_image.geometry_image`,
:func:`core.render.flow.backward_flow`). ``target_landmarks`` are the same target mesh's
vertices in crop px: where X̂'s eyes and mouth should be (component-D patches of X̂, and the
face-mesh ROI that measures X̂'s expression). ``reference_landmarks`` are the reference's own mesh
(its real patches, its ROI).

Landmark px follow :mod:`core.face.align` and the face cache (``training.data.samples``): pixel
centres at integers (the crop spans [-0.5, R - 0.5]). :func:`continuous_px` converts them to the
convention of :mod:`core.nets.component_crops` and of the geometry image's screen vertices
(pixel centres at +0.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.checks import assert_float, assert_shape
from core.face.types import NUM_LANDMARKS


def continuous_px(landmarks: torch.Tensor) -> torch.Tensor:
    """(..., 2 or 3) crop px with pixel centres at integers -> centres at +0.5 (x, y shifted; z kept)."""
    shift = torch.zeros(landmarks.shape[-1], dtype=landmarks.dtype, device=landmarks.device)
    shift[:2] = 0.5
    return landmarks + shift


@dataclass(frozen=True)
class Batch:
    """B samples on one device.

    source: (B, 3, R, R) float in [-1, 1], G's source X_n.
    reference: (B, 3, R, R) float in [-1, 1], G's expression reference (X or Y); the real images
        the discriminators see.
    geometry: (B, C_g, R, R) float, the target's geometry image (normals in [-1, 1] + mask {0, 1}).
    flow: (B, R, R, 2) float, backward flow target -> source as a ``grid_sample`` grid.
    target_landmarks: (B, 468, 2 or 3) float, the target mesh in crop px (pixel centres at integers).
    reference_landmarks: (B, 468, 2 or 3) float, the reference's mesh in crop px (same convention).
    paired: True for a pseudo-pair batch (reference = X, the reconstruction target).
    """

    source: torch.Tensor
    reference: torch.Tensor
    geometry: torch.Tensor
    flow: torch.Tensor
    target_landmarks: torch.Tensor
    reference_landmarks: torch.Tensor
    paired: bool

    @property
    def size(self) -> int:
        return int(self.source.shape[0])

    @property
    def device(self) -> torch.device:
        return self.source.device

    def check(self, *, resolution: int, geometry_channels: int) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first field with a wrong shape or dtype."""
        b = assert_shape(self.source, ("B", 3, resolution, resolution), "batch.source")["B"]
        assert_shape(self.reference, (b, 3, resolution, resolution), "batch.reference")
        assert_shape(self.geometry, (b, geometry_channels, resolution, resolution), "batch.geometry")
        assert_shape(self.flow, (b, resolution, resolution, 2), "batch.flow")
        for name in ("target_landmarks", "reference_landmarks"):
            t = getattr(self, name)
            assert_shape(t, (b, NUM_LANDMARKS, None), f"batch.{name}")
            if t.shape[2] not in (2, 3):
                raise ValueError(f"batch.{name}: last dim must be 2 or 3, got shape {tuple(t.shape)}")
        for name in ("source", "reference", "geometry", "flow", "target_landmarks", "reference_landmarks"):
            assert_float(getattr(self, name), f"batch.{name}")
        if not isinstance(self.paired, bool):
            raise TypeError(f"batch.paired must be a bool, got {type(self.paired).__name__}")

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        names = ("source", "reference", "geometry", "flow", "target_landmarks", "reference_landmarks")
        return Batch(**{n: fn(getattr(self, n)) for n in names}, paired=self.paired)

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def slice(self, start: int, stop: int) -> Batch:
        """Samples ``start:stop`` (a view)."""
        return self._map(lambda t: t[start:stop])

    def split(self, parts: int) -> tuple[Batch, ...]:
        """``parts`` equal micro-batches (gradient accumulation); B must divide evenly."""
        if parts < 1 or self.size % parts:
            raise ValueError(f"cannot split a batch of {self.size} into {parts} equal parts")
        n = self.size // parts
        return tuple(self.slice(i * n, (i + 1) * n) for i in range(parts))
