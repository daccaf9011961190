"""The editor interface: what turns (aligned source crop, flow, geometry) into an edited crop.

Two editors implement :class:`Editor`: the built-in warp editor
(:class:`core.editing.warp.editor.WarpEditor`, no trained weights) and the GaFET generator
(a checkpoint). The pipeline (:mod:`core.editing.pipeline`) prepares every input once per slider
move (:class:`EditInputs`) and calls ``editor.edit(inputs)``; the editor never sees the
full-resolution photo. It returns an :class:`EditOutput`: the edited crop, plus what the
detail-preserving paste-back can reuse when the editor has it (its plain flow warp, where it made
new content); the pipeline makes the plain warp itself (:func:`warp_crop`) when it is missing.

Coordinates: all vertex positions are in *crop pixels* of their own aligned crop, with the
centre of the top-left pixel at (0, 0) (the ``cv2`` / :mod:`core.face.align` convention); z is
depth in the same pixel units, smaller = nearer. The renderer's screen space puts pixel centres
at (j + 0.5, i + 0.5): :meth:`EditGeometry.screen` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch

from core.checks import assert_float, assert_shape, check_crop
from core.render.flow import FlowField, warp


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

    face: the compositing weight of the edit: 1 inside ``region``, feathered *inside* its edge,
        exactly 0 outside it (where the crop must stay as it was).
    mouth: the target's mouth opening (inside the inner-lip contour), edge anti-aliased.
    eyes: the target's eye openings (both eyes), edge anti-aliased.
    region: {0, 1}, where the edit may change the crop: the target face plus where the flow moves
        (:mod:`core.editing.face_flow`: the union of the source's and the target's faces); all 0
        when nothing changes. None when the masks were made without it (then ``face > 0``).
    """

    face: np.ndarray
    mouth: np.ndarray
    eyes: np.ndarray
    region: np.ndarray | None = None


class EditInputs(NamedTuple):
    """What the pipeline hands an editor for one slider move (R = ``geometry.size``).

    source_crop: (R, R, 3) uint8 RGB, the aligned source.
    flow: the backward flow target -> source in this crop (grid (1, R, R, 2)).
    masks: the crop masks of this edit (:class:`EditMasks`, each (R, R)).
    reference_crop: (R', R', 3) uint8 RGB, the aligned reference, or None for a preset.
    geometry: the meshes in crop px (:class:`EditGeometry`).
    """

    source_crop: np.ndarray
    flow: FlowField
    masks: EditMasks
    reference_crop: np.ndarray | None
    geometry: EditGeometry

    def check(self) -> int:
        """Check the crops and the flow against ``geometry.size``; returns R.

        Raises ValueError for a crop or a grid of the wrong shape or dtype, TypeError for a grid
        that is not floating point."""
        size = self.geometry.size
        check_crop(self.source_crop, size, "source_crop")
        if self.reference_crop is not None:
            check_crop(self.reference_crop, None, "reference_crop")
        assert_shape(self.flow.grid, (1, size, size, 2), "flow.grid")
        assert_float(self.flow.grid, "flow.grid")
        return size


class EditOutput(NamedTuple):
    """What an editor returns for one :class:`EditInputs`.

    crop: (R, R, 3) uint8 RGB, the edited aligned crop.
    warped: (R, R, 3) float32 in [0, 255], the source crop moved by the flow alone
        (:func:`warp_crop`), when the editor made it anyway; None otherwise.
    replaced: (R, R) float32 in [0, 1], where ``crop`` holds made content (a filled mouth, eyes)
        rather than moved source pixels; None when the editor does not know (a generator).
    displacement: (R, R, 2) float32 crop px, the backward displacement the editor actually moved
        the source with, when it differs from ``inputs.flow``'s (the warp editor remaps the eye
        openings); None: ``inputs.flow``'s. The full-resolution paste-back warps the photo with it.
    """

    crop: np.ndarray
    warped: np.ndarray | None = None
    replaced: np.ndarray | None = None
    displacement: np.ndarray | None = None


def warp_crop(crop: np.ndarray, flow: FlowField, *, mode: str = "bicubic") -> np.ndarray:
    """The plain flow warp of a crop: (R, R, 3) uint8 RGB -> (R, R, 3) float32 in [0, 255].

    flow: grid (1, R, R, 2). mode: ``grid_sample`` interpolation ("bicubic" or "bilinear");
    border padding (:func:`core.render.flow.warp`).
    """
    check_crop(crop, None, "crop")
    image = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].to(torch.float32)
    out = warp(image, flow, mode=mode, padding_mode="border")
    return out[0].permute(1, 2, 0).clamp(0.0, 255.0).numpy()


@runtime_checkable
class Editor(Protocol):
    """Makes the edited aligned crop. ``name`` is what the Studio's editor selector shows."""

    name: str

    def edit(self, inputs: EditInputs) -> EditOutput:
        """Edit one crop (see :class:`EditInputs` and :class:`EditOutput`). ``output.crop`` is
        (R, R, 3) uint8 RGB; editors raise ValueError for inputs they cannot use."""
        ...
