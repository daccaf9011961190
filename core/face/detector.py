"""Face detection on whole photos: downscale, tile, run BlazeFace, merge, map back to photo px.

Pipeline for an (H, W, 3) uint8 RGB photo:
1. downscale so the long side is at most ``max_side`` (memory stays bounded for 24 MP photos);
2. level 0: the whole photo letterboxed into the short-range (128 px) and full-range (192 px)
   detectors; finer levels: overlapping square tiles (:mod:`core.face.tiling`) through the
   full-range detector, batched, so faces down to ``min_face_px`` wide are found;
3. keep anchors scoring above ``min_score``, drop tile detections cut by an inner tile edge,
   merge everything with weighted NMS, and map boxes and keypoints to original photo px.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from core.face.blazeface import BlazeFace
from core.face.image_checks import check_rgb_uint8
from core.face.nms import suppress_contained, weighted_nms
from core.face.tiling import Tile, TilingConfig, plan_tiles, touches_inner_edge
from core.face.types import Detection


@dataclass(frozen=True)
class DetectorConfig:
    min_score: float = 0.5  # confidence threshold of the short-range model (MediaPipe's default)
    full_range_margin: float = 0.1  # the full-range model needs min_score + this (MediaPipe: 0.6)
    max_side: int = 1920  # photos are detected on a copy with this long side at most, px
    iou_threshold: float = 0.3  # weighted-NMS merge threshold (MediaPipe min_suppression_threshold)
    edge_margin: float = 0.01  # tile detections this close to an inner tile edge are dropped (x side)
    containment: float = 0.6  # a weaker detection whose box lies this much (of its area) inside a
    # stronger one is a duplicate from another scale and is dropped
    short_range_min_face: float = 0.2  # short-range boxes narrower than this x tile side are unreliable
    full_range_min_face: float = 0.05  # same for the full-range model
    batch_size: int = 16  # tiles per network call
    tiling: TilingConfig = field(default_factory=TilingConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"min_score must be in (0, 1), got {self.min_score}")
        if self.max_side < 64:
            raise ValueError(f"max_side must be >= 64 px, got {self.max_side}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class _Window:
    """A network input cut from a resized copy of the photo: input px (x_in, y_in) map to photo px
    ((u + x_in) / scale_x, (v + y_in) / scale_y) of the detection-size photo."""

    tile: Tile
    u: int
    v: int
    scale_x: float
    scale_y: float


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 -> (copy with long side <= max_side, (2,) factors fx, fy: small = photo * f,
    measured from the photo's top-left corner)."""
    h, w = image.shape[:2]
    f = min(1.0, max_side / max(h, w))
    if f >= 1.0:
        return image, np.ones(2, np.float32)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, np.array([size[0] / w, size[1] / h], np.float32)


def _cut(img: np.ndarray, u: int, v: int, size: int) -> np.ndarray:
    """(size, size, 3) window at (u, v) of img, zero outside it."""
    out = np.zeros((size, size, 3), np.uint8)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(u, 0), max(v, 0), min(u + size, w), min(v + size, h)
    if x1 > x0 and y1 > y0:
        out[y0 - v:y1 - v, x0 - u:x1 - u] = img[y0:y1, x0:x1]
    return out


def _windows(img: np.ndarray, tiles: list[Tile], size: int) -> tuple[np.ndarray, list[_Window]]:
    """Network inputs (N, size, size, 3) uint8 for the tiles, one resize per level."""
    h, w = img.shape[:2]
    crops, wins = [], []
    resized: dict[int, np.ndarray] = {}
    for t in tiles:
        s = size / t.side
        if t.level not in resized:
            dsize = (max(1, round(w * s)), max(1, round(h * s)))
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            resized[t.level] = cv2.resize(img, dsize, interpolation=interp) if dsize != (w, h) else img
        r = resized[t.level]
        sx, sy = r.shape[1] / w, r.shape[0] / h
        u, v = round(t.x * sx), round(t.y * sy)
        crops.append(_cut(r, u, v, size))
        wins.append(_Window(tile=t, u=u, v=v, scale_x=sx, scale_y=sy))
    return np.stack(crops), wins


class FaceDetector:
    """Multi-scale BlazeFace detection (see the module docstring). Holds no per-call state, so one
    instance may serve several threads."""

    def __init__(self, *, short_range: BlazeFace, full_range: BlazeFace, config: DetectorConfig) -> None:
        self.short_range = short_range.eval()
        self.full_range = full_range.eval()
        self.config = config

    @property
    def device(self) -> torch.device:
        return self.full_range.anchors.device

    @torch.inference_mode()
    def _run(self, net: BlazeFace, crops: np.ndarray, wins: list[_Window], min_score: float, min_face: float
             ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Boxes / keypoints (detection-size photo px) and scores of anchors above ``min_score`` whose
        box is at least ``min_face`` x the tile side wide and not cut by an inner tile edge."""
        boxes, kps, scores = [], [], []
        s = float(net.input_size)
        bs = self.config.batch_size
        for start in range(0, len(crops), bs):
            x = torch.from_numpy(crops[start:start + bs]).to(self.device)
            x = x.permute(0, 3, 1, 2).float().div_(255.0)
            det = net(x)
            keep = det.scores > min_score
            for i in range(x.shape[0]):
                k = keep[i]
                if not bool(k.any()):
                    continue
                win = wins[start + i]
                scale = np.array([win.scale_x, win.scale_y], np.float32)
                shift = np.array([win.u, win.v], np.float32)
                b = det.boxes[i][k].cpu().numpy().reshape(-1, 2, 2) * s
                b = ((b + shift) / scale).reshape(-1, 4)
                p = (det.keypoints[i][k].cpu().numpy() * s + shift) / scale
                sc = det.scores[i][k].cpu().numpy()
                ok = ~touches_inner_edge(b, win.tile, self.config.edge_margin)
                ok &= (b[:, 2] - b[:, 0]) >= min_face * win.tile.side
                boxes.append(b[ok])
                kps.append(p[ok])
                scores.append(sc[ok])
        return boxes, kps, scores

    def detect(self, image: np.ndarray) -> list[Detection]:
        """image: (H, W, 3) uint8 RGB -> detections in photo px, best score first."""
        check_rgb_uint8(image)
        small, f = downscale(image, self.config.max_side)
        tiles = plan_tiles(small.shape[0], small.shape[1], self.config.tiling)
        cfg = self.config
        boxes, kps, scores = [], [], []
        full_score = min(cfg.min_score + cfg.full_range_margin, 0.99)
        for net, min_score, min_face in ((self.full_range, full_score, cfg.full_range_min_face),
                                         (self.short_range, cfg.min_score, cfg.short_range_min_face)):
            crops, wins = _windows(small, tiles, net.input_size)
            b, k, s = self._run(net, crops, wins, min_score, min_face)
            boxes, kps, scores = boxes + b, kps + k, scores + s
        if sum(len(b) for b in boxes) == 0:
            return []
        merged = weighted_nms(np.concatenate(boxes), np.concatenate(kps), np.concatenate(scores),
                              iou_threshold=cfg.iou_threshold)
        keep = suppress_contained(merged.boxes, cfg.containment)
        # Mapping so far is about the photo's corner (x = 0 at its left edge); photo px put pixel
        # centres at integers (OpenCV), hence the half-pixel shift.
        box_f = np.tile(f, 2)
        return [Detection(box=merged.boxes[i] / box_f - 0.5, keypoints=merged.keypoints[i] / f - 0.5,
                          score=float(merged.scores[i])) for i in keep]
