"""Cut fixed-size, differentiable eye and mouth patches for the component discriminator (§3.5).

The boxes come from the 468-point MediaPipe face mesh. Per component, the centre is the mean of
its key points, the patch's x axis follows the line between its two corners (so a tilted head gives
upright patches) and the side is ``scale * max(corner distance, extent across it)``:

* right eye (subject's right, image left): corners 33 (outer), 133 (inner); lids 159, 145;
* left eye: corners 362 (inner), 263 (outer); lids 386, 374;
* mouth: corners 61, 291; outer lips 0, 17; inner lips 13, 14.

Sampling is ``affine_grid`` + bilinear ``grid_sample`` (border padding), so gradients flow to the
image and to the landmarks.

Landmarks are in image pixels, continuous convention: x = 0 is the left edge of the image and the
centre of pixel column j is at j + 0.5 (MediaPipe's normalised coordinates times the image size).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from core.checks import assert_float, assert_shape

MESH_POINTS = 468


class ComponentSpec(NamedTuple):
    name: str
    corners: tuple[int, int]  # mesh indices; the patch x axis runs from the first to the second
    across: tuple[int, ...]  # mesh indices whose spread across the corner line sets the height
    scale: float  # patch side / max(corner distance, extent across)


RIGHT_EYE = ComponentSpec("right_eye", (33, 133), (159, 145), 1.8)
LEFT_EYE = ComponentSpec("left_eye", (362, 263), (386, 374), 1.8)
MOUTH = ComponentSpec("mouth", (61, 291), (0, 17, 13, 14), 1.4)
COMPONENTS: tuple[ComponentSpec, ...] = (LEFT_EYE, RIGHT_EYE, MOUTH)


class ComponentPatches(NamedTuple):
    """Patches (B, 3, P, P) in the image's dtype and range, and the sampling boxes.

    boxes: (B, 3, 5) float per component in COMPONENTS order: centre x, centre y (px), side (px),
    cos and sin of the patch x axis.
    """

    left_eye: torch.Tensor
    right_eye: torch.Tensor
    mouth: torch.Tensor
    boxes: torch.Tensor

    @property
    def patches(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(left_eye, right_eye, mouth). Feed each to the component D separately, so its
        minibatch-stddev statistic compares like with like."""
        return (self.left_eye, self.right_eye, self.mouth)


def component_boxes(landmarks: torch.Tensor, spec: ComponentSpec) -> torch.Tensor:
    """landmarks: (B, 468, 2 or 3) px -> (B, 5) box: cx, cy, side, cos, sin (differentiable)."""
    pts = landmarks[..., :2].float()
    idx = [*spec.corners, *spec.across]
    centre = pts[:, idx].mean(dim=1)  # (B, 2)
    axis = pts[:, spec.corners[1]] - pts[:, spec.corners[0]]  # (B, 2)
    length = axis.norm(dim=-1).clamp_min(1e-6)
    e1 = axis / length[:, None]
    e2 = torch.stack([-e1[:, 1], e1[:, 0]], dim=-1)  # e1 turned 90 degrees (image y points down)
    across = ((pts[:, list(spec.across)] - centre[:, None]) * e2[:, None]).sum(-1)  # (B, K) signed offsets
    extent = across.amax(dim=1) - across.amin(dim=1)
    side = (spec.scale * torch.maximum(length, extent)).clamp_min(1.0)
    return torch.cat([centre, side[:, None], e1], dim=1)


def crop_boxes(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """images: (B, C, H, W) float; boxes: (B, 5) from :func:`component_boxes` -> (B, C, size, size)."""
    dims = assert_shape(images, ("B", None, "H", "W"), "images")
    assert_shape(boxes, (dims["B"], 5), "boxes")
    height, width = dims["H"], dims["W"]
    cx, cy, side, cos, sin = boxes.unbind(dim=1)
    half = side / 2
    # Patch coords (u, v) in [-1, 1] -> pixel c + half * (u * e1 + v * e2), e1 = (cos, sin), e2 = (-sin, cos),
    # -> grid_sample coords (align_corners=False): n = 2 * px / size - 1.
    theta = torch.stack([
        torch.stack([2 * half * cos / width, -2 * half * sin / width, 2 * cx / width - 1], dim=1),
        torch.stack([2 * half * sin / height, 2 * half * cos / height, 2 * cy / height - 1], dim=1),
    ], dim=1)  # (B, 2, 3)
    grid = F.affine_grid(theta, [dims["B"], images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border",
                         align_corners=False)


def crop_components(images: torch.Tensor, landmarks: torch.Tensor, *, size: int) -> ComponentPatches:
    """Cut the left-eye, right-eye and mouth patches.

    images: (B, 3, H, W) float (any range; usually [-1, 1]).
    landmarks: (B, 468, 2) or (B, 468, 3) float, MediaPipe face mesh in image px (z is ignored).
    size: patch side P in px (the component D's input size).
    """
    dims = assert_shape(images, ("B", 3, None, None), "images")
    assert_float(images, "images")
    assert_shape(landmarks, (dims["B"], MESH_POINTS, None), "landmarks")
    if landmarks.shape[-1] not in (2, 3):
        raise ValueError(f"landmarks: last dim must be 2 or 3, got shape {tuple(landmarks.shape)}")
    boxes = [component_boxes(landmarks, spec) for spec in COMPONENTS]
    patches = [crop_boxes(images, b, size) for b in boxes]
    return ComponentPatches(left_eye=patches[0], right_eye=patches[1], mouth=patches[2],
                            boxes=torch.stack(boxes, dim=1))
