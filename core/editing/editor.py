"""The editor interface: what turns (aligned source crop, flow, geometry) into an edited crop.

Two editors implement :class:`Editor`: the built-in warp editor
(:class:`core.editing.warp.editor.WarpEditor`, no trained weights) and the GaFET generator
(a checkpoint). The pipeline (:mod:`core.editing.pipeline`) prepares every input once per slider
move and calls ``editor.edit(...)``; the editor never sees the full-resolution photo.

Coordinates: all vertex positions are in *crop pixels* of their own aligned crop, with the
centre of the top-left pixel at (0, 0) (the ``cv2`` / :mod:`core.face.align` convention); z is
depth in the same pixel units, smaller = nearer. The renderer's screen space puts pixel centres
at (j + 0.5, i + 0.5): :meth:`EditGeometry.screen` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from core.render.flow import FlowField


def _frozen(a: np.ndarray | None, dtype: type, shape: tuple[int | None, ...], name: str) -> np.ndarray | None:
    if a is None:
        return None
    arr = np.array(a, dtype=dtype, copy=True, order="C")  # private: freezing leaves the caller's alone
    if arr.ndim != len(shape) or any(w is not None and g != w for g, w in zip(arr.shape, shape, strict=True)):
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class EditGeometry:
    """The meshes of one edit, in crop pixels (see the module docstring).

    faces: (F, 3) int64 triangles (MediaPipe topology, 898 faces).
    source: (V, 3) float32 the source face as fitted, in the source crop.
    target: (V, 3) float32 the edited face (after interpolation), in the source crop.
    reference: (V, 3) float32 the reference face in the *reference* crop, or None (preset).
    mouth_faces: (M,) int64 indices into ``faces`` of the triangles spanning the mouth opening
        (inside the inner-lip contour). eye_faces: ((E,), (E,)) the same for the person's right
        and left eye openings.
    size: R, the crop side in px.
    """

    faces: np.ndarray
    source: np.ndarray
    target: np.ndarray
    reference: np.ndarray | None
    mouth_faces: np.ndarray
    eye_faces: tuple[np.ndarray, np.ndarray]
    size: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "faces", _frozen(self.faces, np.int64, (None, 3), "faces"))
        v = np.asarray(self.source).shape[0] if np.ndim(self.source) == 2 else -1
        for name in ("source", "target", "reference"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float32, (v, 3), name))
        object.__setattr__(self, "mouth_faces", _frozen(self.mouth_faces, np.int64, (None,), "mouth_faces"))
        eyes = tuple(_frozen(e, np.int64, (None,), "eye_faces") for e in self.eye_faces)
        if len(eyes) != 2:
            raise ValueError(f"eye_faces: expected (right, left), got {len(eyes)} entries")
        object.__setattr__(self, "eye_faces", eyes)
        if self.size < 8:
            raise ValueError(f"size must be >= 8 px, got {self.size}")

    @staticmethod
    def screen(points: np.ndarray) -> torch.Tensor:
        """(V, 2|3) crop px (pixel centres at integers) -> (1, V, 2|3) float32 renderer screen
        space (pixel centres at +0.5)."""
        t = torch.tensor(np.array(points, dtype=np.float32))
        t[:, :2] += 0.5
        return t[None]


@dataclass(frozen=True, eq=False)
class EditMasks:
    """Crop-space masks of one edit, each (R, R) float32 in [0, 1].

    face: where the edit may change the crop: the union of the source and target face hulls
        plus the region the flow moves, feathered; exactly 0 where the crop must stay as it was.
    mouth: the target's mouth opening (inside the inner-lip contour), edge anti-aliased.
    eyes: the target's eye openings (both eyes), edge anti-aliased.
    """

    face: np.ndarray
    mouth: np.ndarray
    eyes: np.ndarray


@runtime_checkable
class Editor(Protocol):
    """Makes the edited aligned crop. ``name`` is what the Studio's editor selector shows."""

    name: str

    def edit(
        self,
        *,
        source_crop: np.ndarray,
        flow: FlowField,
        masks: EditMasks,
        reference_crop: np.ndarray | None,
        geometry: EditGeometry,
    ) -> np.ndarray:
        """source_crop: (R, R, 3) uint8 RGB aligned source. flow: backward flow target -> source
        in this crop (grid (1, R, R, 2)). reference_crop: (R', R', 3) uint8 aligned reference, or
        None for a preset. Returns the edited crop, (R, R, 3) uint8 RGB."""
        ...
