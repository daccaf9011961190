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

:meth:`WarpEditor.edit_detailed` also returns the intermediate pieces (for tests, benchmarks and
the detail-preserving full-resolution paste-back, which re-applies the flow to the photo itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from core.checks import assert_shape
from core.editing.editor import EditGeometry, EditMasks
from core.editing.warp.eyes import EyeFill, EyeFillConfig, fill_eyes
from core.editing.warp.mouth_fill import MouthFill, MouthFillConfig, fill_mouth
from core.render.flow import FlowField

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


def warp_image(image: np.ndarray, flow: FlowField, *, mode: str = "bicubic") -> np.ndarray:
    """Backward-warp (R, R, 3) uint8 ``image`` with ``flow`` (grid (1, R, R, 2)) -> float32 [0, 255]."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(torch.float32)
    out = F.grid_sample(t, flow.grid.to(torch.float32), mode=mode, padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0.0, 255.0).numpy()


class WarpEditor:
    """Editor protocol implementation (:class:`core.editing.editor.Editor`) with no weights."""

    name = WARP_EDITOR_NAME

    def __init__(self, *, config: WarpEditorConfig = WarpEditorConfig()) -> None:  # noqa: B008 - frozen
        self.config = config

    def __repr__(self) -> str:
        return f"WarpEditor(config={self.config!r})"

    def edit(
        self,
        *,
        source_crop: np.ndarray,
        flow: FlowField,
        masks: EditMasks,
        reference_crop: np.ndarray | None,
        geometry: EditGeometry,
    ) -> np.ndarray:
        """See :class:`core.editing.editor.Editor`; returns the (R, R, 3) uint8 edited crop."""
        return self.edit_detailed(
            source_crop=source_crop, flow=flow, masks=masks, reference_crop=reference_crop, geometry=geometry
        ).crop

    def edit_detailed(
        self,
        *,
        source_crop: np.ndarray,
        flow: FlowField,
        masks: EditMasks,
        reference_crop: np.ndarray | None,
        geometry: EditGeometry,
    ) -> WarpEdit:
        size = geometry.size
        _check_crop(source_crop, size, "source_crop")
        if reference_crop is not None:
            _check_crop(reference_crop, None, "reference_crop")
        assert_shape(flow.grid, (1, size, size, 2), "flow.grid")
        cfg = self.config
        warped = warp_image(source_crop, flow, mode=cfg.interpolation)
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
        out = src + masks.face[..., None] * (out - src)
        crop = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        replaced = np.maximum(mouth.alpha, eyes.alpha) * masks.face
        return WarpEdit(crop=crop, warped=warped, mouth=mouth, eyes=eyes, replaced=replaced)


def _check_crop(image: np.ndarray, size: int | None, name: str) -> None:
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    ok = ok and image.shape[0] == image.shape[1] and (size is None or image.shape[0] == size)
    if not ok:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        want = f"({size}, {size}, 3)" if size else "(R, R, 3)"
        raise ValueError(f"{name}: expected {want} uint8 RGB, got {got}")
