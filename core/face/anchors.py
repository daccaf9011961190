"""SSD anchors of the BlazeFace detectors (MediaPipe's ``SsdAnchorsCalculator`` scheme).

Each stride gives a feature map of ceil(input / stride) cells; consecutive layers that share a
stride put their anchors on the same map. With ``fixed_anchor_size`` every anchor is 1 x 1 and only
the centre matters (the network regresses sizes relative to the input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnchorConfig:
    input_size: int  # square network input, px
    strides: tuple[int, ...]  # one per layer
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0  # 0 disables the extra anchor per layer
    anchor_offset: float = 0.5  # anchor centre within its cell
    fixed_anchor_size: bool = True


SHORT_RANGE_ANCHORS = AnchorConfig(input_size=128, strides=(8, 16, 16, 16))  # 896 anchors
FULL_RANGE_ANCHORS = AnchorConfig(input_size=192, strides=(4,), interpolated_scale_aspect_ratio=0.0)  # 2304


def _scale(cfg: AnchorConfig, layer: int) -> float:
    n = len(cfg.strides)
    if n == 1:
        return (cfg.min_scale + cfg.max_scale) / 2
    return cfg.min_scale + (cfg.max_scale - cfg.min_scale) * layer / (n - 1)


def generate_anchors(cfg: AnchorConfig) -> np.ndarray:
    """Anchors as (N, 4) float32 [x_centre, y_centre, width, height], normalised to the input."""
    rows: list[np.ndarray] = []
    n = len(cfg.strides)
    layer = 0
    while layer < n:
        sizes: list[tuple[float, float]] = []  # (w, h) per anchor of a cell
        last = layer
        while last < n and cfg.strides[last] == cfg.strides[layer]:
            s = _scale(cfg, last)
            for ar in cfg.aspect_ratios:
                sizes.append((s * math.sqrt(ar), s / math.sqrt(ar)))
            if cfg.interpolated_scale_aspect_ratio > 0:
                s_next = 1.0 if last == n - 1 else _scale(cfg, last + 1)
                si, ar = math.sqrt(s * s_next), cfg.interpolated_scale_aspect_ratio
                sizes.append((si * math.sqrt(ar), si / math.sqrt(ar)))
            last += 1
        fm = math.ceil(cfg.input_size / cfg.strides[layer])
        ys, xs = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")
        centres = np.stack([xs + cfg.anchor_offset, ys + cfg.anchor_offset], -1).reshape(-1, 1, 2) / fm
        wh = np.ones((len(sizes), 2)) if cfg.fixed_anchor_size else np.asarray(sizes)
        cell = np.concatenate([np.broadcast_to(centres, (fm * fm, len(sizes), 2)),
                               np.broadcast_to(wh[None], (fm * fm, len(sizes), 2))], -1)
        rows.append(cell.reshape(-1, 4))
        layer = last
    return np.concatenate(rows).astype(np.float32)
