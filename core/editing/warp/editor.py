"""The built-in warp editor: no trained weights, works out of the box (DESIGN §6).

Per slider move, in the aligned crop (R x R):

1. the displacement: the edit's flow (:mod:`core.editing.face_flow`: the exact piecewise-affine
   mesh correspondence on the face, fold-free, the identity outside it), with the eye openings
   whose contour changes remapped (:mod:`core.editing.warp.eyes`: the lid margins move with the
   lids over an eyeball that stays put; eyeball the source hid is completed from its own iris and
   sclera); where the source shows no eye at all, a borrowed or drawn eye, and closed eyes get lid
   skin (made colour); where the target mouth closes over an open source mouth, the lips are
   stretched over the opening, corners included, and sample only the source's real lips
   (:mod:`core.editing.warp.lips`);
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

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from core.editing.editor import EditGeometry, EditInputs, EditOutput, warp_crop
from core.editing.face_flow import flow_from_displacement
from core.editing.masks import OUTER_LIP_RING, ring
from core.editing.warp.eyes import EyeFill, EyeFillConfig, fill_eyes
from core.editing.warp.lips import (
    LipConfig,
    closed_target,
    closing_weight,
    lip_edges,
    lip_remap,
    stretch_lips,
)
from core.editing.warp.mouth_fill import (
    MouthFill,
    MouthFillConfig,
    fill_mouth,
    fill_weight,
    lab_near_mouth,
    relative_opening,
)
from core.geometry.au.calibration import load_au_calibration

WARP_EDITOR_NAME = "Warp (built-in)"


@dataclass(frozen=True, kw_only=True)
class WarpEditorConfig:
    interpolation: str = "bicubic"  # grid_sample mode: "bicubic" (sharper) or "bilinear"
    fill_mouth: bool = True  # fill a mouth that opens (its own / the reference's teeth, or a cavity)
    fix_eyes: bool = True  # special handling of eye openings that change
    fix_lips: bool = True  # the lips of an open source mouth sample its real lips only (lips that close)
    mouth: MouthFillConfig = field(default_factory=MouthFillConfig)
    eyes: EyeFillConfig = field(default_factory=EyeFillConfig)
    lips: LipConfig = field(default_factory=LipConfig)

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
        lips_moved = False
        if cfg.fix_lips:
            fixed = _fix_lips(source_crop, geometry, displacement, cfg)
            lips_moved = fixed is not None
            if fixed is not None:
                displacement, geometry = fixed
        flow = flow_from_displacement(displacement) if eyes.moved.any() or lips_moved else inputs.flow
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



def _fix_lips(source_crop: np.ndarray, geometry: EditGeometry, displacement: np.ndarray,
              cfg: WarpEditorConfig) -> tuple[np.ndarray, EditGeometry] | None:
    """``displacement`` with the lips of an open source mouth stretched over the opening where
    the target closes (:func:`~core.editing.warp.lips.stretch_lips`: the corners close too) and
    sampling the source's real lips only (:func:`~core.editing.warp.lips.lip_remap`), and the
    geometry with the closed target; None when the mouth does not change or the source's is closed."""
    src, tgt = geometry.source, geometry.target
    if relative_opening(src) < cfg.mouth.min_opening:
        return None
    weight, _ = fill_weight(src, tgt, cfg.mouth)
    if weight <= 0.0:
        return None
    size = geometry.size
    pts = ring(tgt, OUTER_LIP_RING)
    pad = 4 + 0.15 * float(np.ptp(pts[:, 0]))
    x0, y0 = np.clip(np.floor(pts.min(0) - pad).astype(int), 0, size)
    x1, y1 = np.clip(np.ceil(pts.max(0) + pad).astype(int) + 1, 0, size)
    if x1 <= x0 or y1 <= y0:
        return None
    box = (int(y0), int(y1), int(x0), int(x1))
    closing = closing_weight(src, tgt, load_au_calibration().closed_mouth_gap)
    if closing > 0.0:
        closed = closed_target(tgt, closing)
        displacement = stretch_lips(displacement, tgt, closed, box)
        geometry = replace(geometry, target=closed)
    edges = lip_edges(lab_near_mouth(source_crop, src), src, cfg.lips)
    return lip_remap(displacement, edges, weight, box), geometry
