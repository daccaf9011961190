"""The built-in warp editor: no trained weights, works out of the box (DESIGN §6).

Per slider move, in the aligned crop (R x R):

1. the displacement: the edit's flow (:mod:`core.editing.face_flow`: the exact piecewise-affine
   mesh correspondence on the face, fold-free, the identity outside it), with the eye openings
   whose contour changes remapped (:mod:`core.editing.warp.eyes`: the lid margins move with the
   lids over an eyeball that stays put; eyeball the source hid is completed from its own iris and
   sclera); where the source shows no eye at all, a borrowed or drawn eye, and closed eyes get lid
   skin (made colour);
2. one backward warp of the source crop with it (``grid_sample``, bicubic, clamped);
3. a mouth whose opening changes: real teeth and cavity (the source's own open mouth, else the
   reference's) moved rigidly with their jaw inside the target's lip contour, in the source's
   light, or a cavity in the source's own colours when no photo shows one; blended in multi-band
   (:mod:`core.editing.warp.mouth_fill`);
4. composite into the source crop with the edit's region mask (``masks.face``, feathered inside).

:meth:`WarpEditor.edit` returns the crop with its plain warp, the displacement it used and where
it holds made content (:class:`~core.editing.editor.EditOutput`): the full-resolution paste-back
resamples the photo itself once with that displacement and takes only the made content from the
crop (:mod:`core.editing.photo_paste`); :meth:`WarpEditor.edit_detailed` also returns the fills
(for tests and benchmarks).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from core.editing.editor import EditInputs, EditOutput, warp_crop
from core.editing.face_flow import flow_from_displacement
from core.editing.warp.eyes import EyeFill, EyeFillConfig, fill_eyes
from core.editing.warp.mouth_fill import MouthFill, MouthFillConfig, fill_mouth

WARP_EDITOR_NAME = "Warp (built-in)"


@dataclass(frozen=True, kw_only=True)
class WarpEditorConfig:
    interpolation: str = "bicubic"  # grid_sample mode: "bicubic" (sharper) or "bilinear"
    fill_mouth: bool = True  # fill a mouth that opens (its own / the reference's teeth, or a cavity)
    fix_eyes: bool = True  # special handling of eye openings that change
    mouth: MouthFillConfig = field(default_factory=MouthFillConfig)
    eyes: EyeFillConfig = field(default_factory=EyeFillConfig)

    def __post_init__(self) -> None:
        if self.interpolation not in ("bicubic", "bilinear"):
            raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {self.interpolation!r}")


class WarpEdit(NamedTuple):
    """crop: (R, R, 3) uint8 the edited crop. warped: (R, R, 3) float32 [0, 255] the plain flow
    warp of the source (before fills and compositing). mouth, eyes: the fills that were applied.
    replaced: (R, R) float32 [0, 1], where the crop holds made content rather than the warp.
    displacement: (R, R, 2) float32 crop px, the backward displacement ``warped`` was made with (the
    flow's, with the eye openings remapped)."""

    crop: np.ndarray
    warped: np.ndarray
    mouth: MouthFill
    eyes: EyeFill
    replaced: np.ndarray
    displacement: np.ndarray


class WarpEditor:
    """Editor protocol implementation (:class:`core.editing.editor.Editor`) with no weights."""

    name = WARP_EDITOR_NAME

    def __init__(self, *, config: WarpEditorConfig = WarpEditorConfig()) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"WarpEditor(config={self.config!r})"

    def edit(self, inputs: EditInputs) -> EditOutput:
        """See :class:`core.editing.editor.Editor`: the (R, R, 3) uint8 edited crop, its plain flow
        warp and where it holds made content (filled mouth and eyes)."""
        detail = self.edit_detailed(inputs)
        return EditOutput(crop=detail.crop, warped=detail.warped, replaced=detail.replaced,
                          displacement=detail.displacement)

    def edit_detailed(self, inputs: EditInputs) -> WarpEdit:
        """:meth:`edit` with the mouth and eye fills that were applied."""
        size = inputs.check()
        source_crop, reference_crop, geometry = inputs.source_crop, inputs.reference_crop, inputs.geometry
        cfg = self.config
        displacement = inputs.flow.displacement[0].detach().cpu().numpy().astype(np.float32)
        eyes = EyeFill.empty(size)
        if cfg.fix_eyes:  # the eye openings are remapped (a displacement) before the one warp
            eyes = fill_eyes(source_crop=source_crop, geometry=geometry, reference_crop=reference_crop,
                             config=cfg.eyes)
            displacement += eyes.moved[..., None] * (eyes.displacement - displacement)
        flow = flow_from_displacement(displacement) if eyes.moved.any() else inputs.flow
        warped = warp_crop(source_crop, flow, mode=cfg.interpolation)
        out = warped + eyes.alpha[..., None] * (eyes.rgb - warped)
        empty = np.zeros((size, size), np.float32)
        mouth = MouthFill(np.zeros_like(warped), empty, "none", float("nan"))
        if cfg.fill_mouth:
            mouth = fill_mouth(source_crop=source_crop, geometry=geometry, reference_crop=reference_crop,
                               warped=out, config=cfg.mouth)
            out += mouth.alpha[..., None] * (mouth.rgb - out)
        src = source_crop.astype(np.float32)
        out = src + inputs.masks.face[..., None] * (out - src)
        crop = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        replaced = np.maximum(mouth.alpha, eyes.alpha) * inputs.masks.face
        return WarpEdit(crop=crop, warped=warped, mouth=mouth, eyes=eyes, replaced=replaced,
                        displacement=displacement)

