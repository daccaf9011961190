"""The built-in warp editor: no trained weights, works out of the box (DESIGN §6).

Per slider move, in the aligned crop (R x R):

1. backward-warp the source crop with the mesh flow (``grid_sample``, bicubic; the flow is the
   exact piecewise-affine mesh correspondence on the face and fades to identity outside it);
2. eyes whose opening changes: replace the warp inside the target's lid contour
   (:mod:`core.editing.warp.eyes`: closing eyes are occluded by the lids instead of squashed,
   opening eyes scale their content instead of stretching a slit, closed eyes get lid skin);
3. a mouth that opens wider than the source's: fill the opening from the reference's mouth
   through the mesh correspondence, colour-matched to the source, or a synthesised interior
   when there is no reference photo (:mod:`core.editing.warp.mouth_fill`);
4. composite into the source crop inside the feathered change mask (``masks.face``).

:meth:`WarpEditor.edit` returns the plain warp and where the crop holds made content with the
crop (:class:`~core.editing.editor.EditOutput`: the detail-preserving full-resolution paste-back
re-applies the flow to the photo itself and keeps the made content);
:meth:`WarpEditor.edit_detailed` also returns the fills (for tests and benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from core.editing.editor import EditInputs, EditOutput, warp_crop
from core.editing.warp.eyes import EyeFill, EyeFillConfig, fill_eyes
from core.editing.warp.mouth_fill import MouthFill, MouthFillConfig, fill_mouth

WARP_EDITOR_NAME = "Warp (built-in)"


@dataclass(frozen=True, kw_only=True)
class WarpEditorConfig:
    interpolation: str = "bicubic"  # grid_sample mode: "bicubic" (sharper) or "bilinear"
    fill_mouth: bool = True  # fill a mouth that opens (reference / synthetic interior)
    fix_eyes: bool = True  # special handling of eye openings that change
    mouth: MouthFillConfig = field(default_factory=MouthFillConfig)
    eyes: EyeFillConfig = field(default_factory=EyeFillConfig)

    def __post_init__(self) -> None:
        if self.interpolation not in ("bicubic", "bilinear"):
            raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {self.interpolation!r}")


class WarpEdit(NamedTuple):
    """crop: (R, R, 3) uint8 the edited crop. warped: (R, R, 3) float32 [0, 255] the plain flow
    warp of the source (before fills and compositing). mouth, eyes: the fills that were applied.
    replaced: (R, R) float32 [0, 1], where the crop holds made content rather than the warp."""

    crop: np.ndarray
    warped: np.ndarray
    mouth: MouthFill
    eyes: EyeFill
    replaced: np.ndarray


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
        return EditOutput(crop=detail.crop, warped=detail.warped, replaced=detail.replaced)

    def edit_detailed(self, inputs: EditInputs) -> WarpEdit:
        """:meth:`edit` with the mouth and eye fills that were applied."""
        size = inputs.check()
        source_crop, reference_crop, geometry = inputs.source_crop, inputs.reference_crop, inputs.geometry
        cfg = self.config
        warped = warp_crop(source_crop, inputs.flow, mode=cfg.interpolation)
        out = warped.copy()
        empty = np.zeros((size, size), np.float32)
        eyes = EyeFill(np.zeros_like(warped), empty, ("unchanged", "unchanged"))
        if cfg.fix_eyes:
            eyes = fill_eyes(source_crop=source_crop, geometry=geometry, reference_crop=reference_crop,
                             config=cfg.eyes)
            out += eyes.alpha[..., None] * (eyes.rgb - out)
        mouth = MouthFill(np.zeros_like(warped), empty, "none", float("nan"))
        if cfg.fill_mouth:
            mouth = fill_mouth(source_crop=source_crop, geometry=geometry, reference_crop=reference_crop,
                               config=cfg.mouth)
            out += mouth.alpha[..., None] * (mouth.rgb - out)
        src = source_crop.astype(np.float32)
        out = src + inputs.masks.face[..., None] * (out - src)
        crop = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        replaced = np.maximum(mouth.alpha, eyes.alpha) * inputs.masks.face
        return WarpEdit(crop=crop, warped=warped, mouth=mouth, eyes=eyes, replaced=replaced)

