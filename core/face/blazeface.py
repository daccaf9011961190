"""BlazeFace face detectors (MediaPipe short-range 128 px and full-range 192 px) as PyTorch modules.

The networks are rebuilt from the ``.tflite`` files by :mod:`core.face.tflite` (weights read from
the files, no TFLite runtime). This module adds the input normalisation and the SSD decoding:
for anchor a and regressor r (in input pixels, order x, y, w, h, then 6 keypoints x, y),
``centre = a.centre + r[0:2] / S``, ``size = r[2:4] / S``, ``keypoint_k = a.centre + r[4+2k:6+2k] / S``,
``score = sigmoid(clip(logit, -100, 100))`` (S = input size; anchors have unit size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from core.assets import load_asset
from core.checks import assert_float, assert_shape
from core.face.anchors import FULL_RANGE_ANCHORS, SHORT_RANGE_ANCHORS, AnchorConfig, generate_anchors
from core.face.tflite.graph import TfliteGraph, load_tflite_graph

NUM_KEYPOINTS = 6  # right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion


@dataclass(frozen=True)
class BlazeFaceConfig:
    asset_file: str  # member of the "face-detector" asset
    anchors: AnchorConfig
    min_score: float  # MediaPipe's min_score_thresh for this model
    score_clip: float = 100.0  # logits are clipped to +-score_clip before the sigmoid

    @property
    def input_size(self) -> int:
        return self.anchors.input_size


SHORT_RANGE = BlazeFaceConfig(asset_file="face_detection_short_range.tflite", anchors=SHORT_RANGE_ANCHORS,
                              min_score=0.5)
FULL_RANGE = BlazeFaceConfig(asset_file="face_detection_full_range_sparse.tflite", anchors=FULL_RANGE_ANCHORS,
                             min_score=0.6)


class RawDetections(NamedTuple):
    """Per-anchor decoded outputs, coordinates normalised to the network input square [0, 1]."""

    boxes: torch.Tensor  # (B, N, 4) float32 x0, y0, x1, y1
    keypoints: torch.Tensor  # (B, N, 6, 2) float32 x, y
    scores: torch.Tensor  # (B, N) float32 in [0, 1]


class BlazeFace(nn.Module):
    """A BlazeFace detector. ``forward(images)`` with images (B, 3, S, S) float32 RGB in [0, 1]."""

    def __init__(self, *, graph: TfliteGraph, config: BlazeFaceConfig) -> None:
        super().__init__()
        expect = (1, 3, config.input_size, config.input_size)
        if graph.input_shapes != (expect,):
            raise ValueError(f"{config.asset_file}: graph input {graph.input_shapes} is not {expect}")
        self.graph = graph
        self.config = config
        anchors = torch.from_numpy(generate_anchors(config.anchors))
        self.register_buffer("anchors", anchors, persistent=False)  # (N, 4) cx, cy, w, h

    @classmethod
    def from_asset(cls, config: BlazeFaceConfig) -> BlazeFace:
        """Build from the installed ``face-detector`` asset (raises AssetMissingError)."""
        return cls(graph=load_asset("face-detector", config.asset_file, load_tflite_graph), config=config)

    @property
    def input_size(self) -> int:
        return self.config.input_size

    def raw(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's own outputs. images: (B, 3, S, S) float in [0, 1] ->
        (regressors (B, N, 16) in input px relative to the anchors, logits (B, N, 1))."""
        s = self.input_size
        assert_shape(images, ("B", 3, s, s), "images")
        assert_float(images, "images")
        reg, logits = self.graph(images * 2.0 - 1.0)  # the detectors expect [-1, 1]
        return reg, logits

    def forward(self, images: torch.Tensor) -> RawDetections:
        reg, logits = self.raw(images)
        s = float(self.input_size)
        n = self.anchors.shape[0]
        assert_shape(reg, ("B", n, 4 + 2 * NUM_KEYPOINTS), "regressors")
        centre = self.anchors[:, :2]
        size = self.anchors[:, 2:]
        box_c = reg[..., 0:2] / s * size + centre
        box_wh = reg[..., 2:4] / s * size
        boxes = torch.cat([box_c - box_wh / 2, box_c + box_wh / 2], dim=-1)
        kps = reg[..., 4:].reshape(reg.shape[0], n, NUM_KEYPOINTS, 2) / s
        kps = kps * size[:, None, :] + centre[:, None, :]
        c = self.config.score_clip
        scores = torch.sigmoid(logits[..., 0].clamp(-c, c))
        return RawDetections(boxes=boxes, keypoints=kps, scores=scores)
