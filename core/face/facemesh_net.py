"""The 468-point 3D face mesh network (MediaPipe ``face_landmark.tflite``) as a PyTorch module.

Rebuilt from the ``.tflite`` file by :mod:`core.face.tflite` (weights read from the file, no TFLite
runtime); batched, device-agnostic and differentiable. Two entry points:

* ``FaceMeshNet.forward(crops)``: crops (B, 3, 192, 192) float RGB in [0, 1] (what the network
  expects as is) -> :class:`MeshOutput` in crop px;
* ``FaceMeshNet.mesh_from_rois(images, rois)``: whole photos (B, 3, H, W) float in [0, 1] and one
  ROI each (see :mod:`core.face.mesh_roi`) -> :class:`MeshOutput` in photo px, differentiable with
  respect to the photo pixels (for training losses).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from core.assets import load_asset
from core.checks import assert_float, assert_shape
from core.face.mesh_roi import check_rois, crop_rois, crop_to_photo
from core.face.tflite.graph import TfliteGraph, load_tflite_graph
from core.face.types import NUM_LANDMARKS

MESH_ASSET = ("face-mesh", "face_landmark.tflite")


class MeshOutput(NamedTuple):
    """landmarks: (B, 468, 3) float32 px (crop px in [0, 192] from ``forward``, photo px from
    ``mesh_from_rois``); x right, y down, z scaled like x / y, smaller = nearer the camera.
    presence: (B,) float32 face-presence probability in [0, 1]; presence_logit: (B,) its logit."""

    landmarks: torch.Tensor
    presence: torch.Tensor
    presence_logit: torch.Tensor


class FaceMeshNet(nn.Module):
    INPUT_SIZE = 192

    def __init__(self, *, graph: TfliteGraph) -> None:
        super().__init__()
        s = self.INPUT_SIZE
        if graph.input_shapes != ((1, 3, s, s),):
            raise ValueError(f"face mesh graph input {graph.input_shapes} is not (1, 3, {s}, {s})")
        self.graph = graph

    @classmethod
    def from_asset(cls) -> FaceMeshNet:
        """Build from the installed ``face-mesh`` asset (raises AssetMissingError)."""
        return cls(graph=load_asset(*MESH_ASSET, load_tflite_graph))

    def forward(self, crops: torch.Tensor) -> MeshOutput:
        """crops: (B, 3, 192, 192) float RGB in [0, 1] -> MeshOutput in crop px."""
        s = self.INPUT_SIZE
        assert_shape(crops, ("B", 3, s, s), "crops")
        assert_float(crops, "crops")
        coords, flag = self.graph(crops)  # (B, 1404, 1, 1), (B, 1, 1, 1)
        b = crops.shape[0]
        landmarks = coords.reshape(b, NUM_LANDMARKS, 3)
        logit = flag.reshape(b)
        return MeshOutput(landmarks=landmarks, presence=torch.sigmoid(logit), presence_logit=logit)

    def mesh_from_rois(self, images: torch.Tensor, rois: torch.Tensor, *,
                       antialias: bool = True) -> MeshOutput:
        """images: (B, 3, H, W) float RGB in [0, 1]; rois: (B, 4) [cx, cy, side, angle] photo px /
        radians (e.g. ``roi_from_detection``) -> MeshOutput with landmarks in photo px (z scaled by
        side / 192). Differentiable with respect to ``images`` (and ``rois``)."""
        assert_shape(images, ("B", 3, None, None), "images")
        check_rois(rois, images.shape[0])
        crops = crop_rois(images, rois, size=self.INPUT_SIZE, antialias=antialias)
        out = self(crops)
        return out._replace(landmarks=crop_to_photo(out.landmarks, rois, self.INPUT_SIZE))
