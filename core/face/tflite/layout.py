"""NHWC (TFLite) <-> NCHW (PyTorch) conversions used when rebuilding TFLite graphs.

Rank-4 activations run in NCHW inside the rebuilt graph; every other rank keeps TFLite's layout.
"""

from __future__ import annotations

import numpy as np
import torch

# NHWC axis -> NCHW axis
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def nchw_axis(axis: int, rank: int) -> int:
    """A TFLite axis of a rank-``rank`` tensor as the axis of the rebuilt tensor."""
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return NHWC_TO_NCHW_AXIS[axis] if rank == 4 else axis


def to_nchw(t: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B, C, H, W); other ranks unchanged."""
    return t.permute(0, 3, 1, 2) if t.ndim == 4 else t


def to_nhwc(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H, W, C); other ranks unchanged."""
    return t.permute(0, 2, 3, 1) if t.ndim == 4 else t


def broadcast_constant_nchw(value: np.ndarray) -> torch.Tensor:
    """A constant that broadcasts against a rank-4 NHWC activation, rearranged to broadcast against
    the NCHW activation: trailing-aligned shape (h, w, c) -> (1, c, h, w)."""
    if value.ndim > 4:
        raise ValueError(f"constant of rank {value.ndim} cannot broadcast against a rank-4 tensor")
    v = value.reshape((1,) * (4 - value.ndim) + value.shape)
    return torch.from_numpy(np.ascontiguousarray(v.transpose(0, 3, 1, 2))).float()
