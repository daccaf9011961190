"""Weighted non-maximum suppression of face detections (MediaPipe's WEIGHTED algorithm).

Candidates are visited by decreasing score; each takes every remaining candidate whose IoU with it
exceeds the threshold (itself included) and becomes their score-weighted mean box and keypoints,
keeping the top score. Averaging overlapping anchors makes boxes steadier than hard NMS.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class MergedDetections(NamedTuple):
    boxes: np.ndarray  # (M, 4) float32 x0, y0, x1, y1
    keypoints: np.ndarray  # (M, K, 2) float32
    scores: np.ndarray  # (M,) float32, decreasing


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) with boxes (N, 4), all x0, y0, x1, y1 -> (N,) in [0, 1]."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, *,
                 iou_threshold: float = 0.3) -> MergedDetections:
    """boxes (N, 4), keypoints (N, K, 2), scores (N,) -> merged detections, best first."""
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes: expected (N, 4), got {boxes.shape}")
    n = boxes.shape[0]
    if keypoints.shape[0] != n or keypoints.ndim != 3 or keypoints.shape[2] != 2 or scores.shape != (n,):
        raise ValueError(f"keypoints {keypoints.shape} / scores {scores.shape} do not match {n} boxes")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    boxes = boxes.astype(np.float64)
    kps = keypoints.astype(np.float64)
    remaining = np.argsort(-scores, kind="stable")
    out_b, out_k, out_s = [], [], []
    while remaining.size:
        top = remaining[0]
        overlap = box_iou(boxes[top], boxes[remaining]) > iou_threshold
        overlap[0] = True
        cluster = remaining[overlap]
        remaining = remaining[~overlap]
        w = scores[cluster].astype(np.float64)
        w = w / w.sum()
        out_b.append((boxes[cluster] * w[:, None]).sum(0))
        out_k.append((kps[cluster] * w[:, None, None]).sum(0))
        out_s.append(scores[top])
    k = keypoints.shape[1]
    return MergedDetections(
        boxes=np.asarray(out_b, np.float32).reshape(-1, 4),
        keypoints=np.asarray(out_k, np.float32).reshape(-1, k, 2),
        scores=np.asarray(out_s, np.float32).reshape(-1),
    )


def suppress_contained(boxes: np.ndarray, fraction: float) -> list[int]:
    """Indices of boxes (M, 4), sorted best first, to keep: a box is dropped when more than
    ``fraction`` of its own area or of a better kept box's area lies in their intersection (the same
    face seen at another scale, boxed larger or smaller)."""
    kept: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in range(len(boxes)):
        if kept:
            k = np.asarray(kept)
            ix = np.clip(np.minimum(boxes[i, 2], boxes[k, 2]) - np.maximum(boxes[i, 0], boxes[k, 0]), 0, None)
            iy = np.clip(np.minimum(boxes[i, 3], boxes[k, 3]) - np.maximum(boxes[i, 1], boxes[k, 1]), 0, None)
            inter = ix * iy
            smaller = np.maximum(np.minimum(areas[i], areas[k]), 1e-12)
            if (inter / smaller > fraction).any():
                continue
        kept.append(i)
    return kept
