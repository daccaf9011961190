"""What the training datasets hand to the trainer: typed faces, pair samples and batches.

A :class:`FaceView` is one face as the trainer sees it; a :class:`PairSample` is one input of
paper §3.5: the source X_n, a reference (X itself for a pseudo-pair, another face Y otherwise)
and the original X; :func:`collate_pairs` stacks samples into a :class:`PairBatch` (the same
fields with a leading batch dimension B).

Conventions (R = the cache's crop size):

* images: float32 in [-1, 1], (3, R, R) per sample (NCHW in a batch), RGB;
* landmarks: the 468-point mesh in crop px with pixel centres at integers (``core.face.align``),
  z in px (smaller = nearer);
* expression (20 AUs), identity (468, 3) model units, and the pose (scale, rotation,
  translation: model frame -> crop px) are the fitted face parameters
  (:class:`core.geometry.face_model.FaceParams` via :meth:`FaceView.params`);
* boxes: (3, 5) the component-discriminator boxes of ``core.nets.component_crops`` (left eye,
  right eye, mouth; centre x, centre y, side, cos, sin) in that module's convention (pixel
  centres at +0.5), so ``crop_boxes(images, boxes[:, k], size)`` cuts component k.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from core.geometry.face_model import FaceParams, Pose
from core.nets.component_crops import COMPONENTS, component_boxes


class FaceView(NamedTuple):
    """One face (shapes per sample; a batch adds a leading B). See the module docstring.

    image (3, R, R) float32 [-1, 1]; landmarks (468, 3) float32; expression (20,) float32;
    identity (468, 3) float32; scale () float32; rotation (3, 3) float32; translation (3,)
    float32; boxes (3, 5) float32.
    """

    image: torch.Tensor
    landmarks: torch.Tensor
    expression: torch.Tensor
    identity: torch.Tensor
    scale: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    boxes: torch.Tensor

    def params(self) -> FaceParams:
        """The fitted parameters of a *batched* view as FaceParams (pose into crop px)."""
        if self.image.ndim != 4:
            raise ValueError("FaceView.params() needs a batched view (image (B, 3, R, R))")
        return FaceParams(identity=self.identity, expression=self.expression,
                          pose=Pose(scale=self.scale, rotation=self.rotation, translation=self.translation))

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> FaceView:
        return FaceView(*(t.to(device, non_blocking=non_blocking) for t in self))


class PairSample(NamedTuple):
    """One §3.5 input. source: X_n. reference: X when ``paired`` (a pseudo-pair, trained with the
    reconstruction loss against X), else another face Y. original: X, the face X_n was made from.
    paired: () bool. index: (2,) int64 dataset indices of the source and the reference."""

    source: FaceView
    reference: FaceView
    original: FaceView
    paired: torch.Tensor
    index: torch.Tensor


class PairBatch(NamedTuple):
    """:class:`PairSample` fields stacked: images (B, 3, R, R), landmarks (B, 468, 3), ...;
    paired: (B,) bool, the same for the whole batch (batches alternate, §3.5); index (B, 2)."""

    source: FaceView
    reference: FaceView
    original: FaceView
    paired: torch.Tensor
    index: torch.Tensor

    @property
    def is_paired(self) -> bool:
        """True for a pseudo-pair batch (X_n, X), False for an unpaired one (X_n, Y)."""
        return bool(self.paired[0])

    @property
    def batch_size(self) -> int:
        return int(self.paired.shape[0])

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> PairBatch:
        return PairBatch(self.source.to(device, non_blocking=non_blocking),
                         self.reference.to(device, non_blocking=non_blocking),
                         self.original.to(device, non_blocking=non_blocking),
                         self.paired.to(device), self.index.to(device))


def face_boxes(landmarks: torch.Tensor) -> torch.Tensor:
    """(468, 3) or (B, 468, 3) crop px (pixel centres at integers) -> (3, 5) or (B, 3, 5) component
    boxes in ``core.nets.component_crops``'s convention (pixel centres at +0.5)."""
    single = landmarks.ndim == 2
    pts = (landmarks[None] if single else landmarks)[..., :2] + 0.5
    boxes = torch.stack([component_boxes(pts, spec) for spec in COMPONENTS], dim=1)
    return boxes[0] if single else boxes


def _stack_views(views: Sequence[FaceView]) -> FaceView:
    return FaceView(*(torch.stack(parts) for parts in zip(*views, strict=True)))


def collate_pairs(samples: Sequence[PairSample]) -> PairBatch:
    """Stack samples of one kind (all pseudo-pairs or all unpaired) into a PairBatch."""
    if not samples:
        raise ValueError("collate_pairs: no samples")
    flags = {bool(s.paired) for s in samples}
    if len(flags) != 1:
        raise ValueError("collate_pairs: a batch mixes pseudo-pairs and unpaired samples")
    return PairBatch(source=_stack_views([s.source for s in samples]),
                     reference=_stack_views([s.reference for s in samples]),
                     original=_stack_views([s.original for s in samples]),
                     paired=torch.stack([s.paired for s in samples]),
                     index=torch.stack([s.index for s in samples]))
