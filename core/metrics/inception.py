"""The FID Inception-v3: pytorch-fid's variant of torchvision's Inception3, for FID, KID and IS.

TensorFlow's ``inception-2015-12-05`` graph, which FID is defined on, differs from torchvision's
Inception3 in its pooling: the average-pool branches of the A, C and first E blocks leave the
padding out of the average (``count_include_pad=False``), the last E block max-pools instead, and
the classifier has 1,008 classes. :class:`FidInception` is torchvision's Inception3 with those
blocks swapped for the variants below, so the state-dict keys are torchvision's and pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth`` loads into it as is (``strict=True``).

Input mode (state it with every number): pytorch-fid's: an RGB batch in [0, 1] is resized to
299×299 bilinearly (``align_corners=False``, no antialiasing) and scaled to [-1, 1]. Weights are
the user's import (:mod:`core.metrics.weights`, name ``inception-fid``); they are read with
``torch.load(weights_only=True)``, which rebuilds tensors only.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

from core.checks import assert_float, assert_shape

INPUT_SIZE = 299
FEATURE_DIM = 2048  # pool3
NUM_CLASSES = 1008
INPUT_MODE = "pytorch-fid (bilinear resize to 299, no antialias; 2x-1)"


class _FidInceptionA(InceptionA):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return [self.branch1x1(x), b5, b3, pool]


class _FidInceptionC(InceptionC):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            d = layer(d)
        pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return [self.branch1x1(x), b7, d, pool]


class _FidInceptionE(InceptionE):
    """E block; ``max_pool=False``: the first E block (average pool without padding), True: the last."""

    def __init__(self, in_channels: int, *, max_pool: bool) -> None:
        super().__init__(in_channels)
        self.max_pool = max_pool

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x), b3, d, self.branch_pool(pooled)]


class InceptionOutput(NamedTuple):
    """pool: (B, 2048) float32 pool3 features (FID, KID). logits: (B, 1008) float32 (IS: softmax)."""

    pool: torch.Tensor
    logits: torch.Tensor


class FidInception(nn.Module):
    """The FID Inception-v3 (module docstring). Random weights until :meth:`load` or
    :func:`load_fid_inception`; always in eval mode for metrics."""

    def __init__(self) -> None:
        super().__init__()
        net = Inception3(num_classes=NUM_CLASSES, aux_logits=False, init_weights=False, transform_input=False)
        net.Mixed_5b = _FidInceptionA(192, pool_features=32)
        net.Mixed_5c = _FidInceptionA(256, pool_features=64)
        net.Mixed_5d = _FidInceptionA(288, pool_features=64)
        net.Mixed_6b = _FidInceptionC(768, channels_7x7=128)
        net.Mixed_6c = _FidInceptionC(768, channels_7x7=160)
        net.Mixed_6d = _FidInceptionC(768, channels_7x7=160)
        net.Mixed_6e = _FidInceptionC(768, channels_7x7=192)
        net.Mixed_7b = _FidInceptionE(1280, max_pool=False)
        net.Mixed_7c = _FidInceptionE(2048, max_pool=True)
        self.net = net

    def load(self, path: str | os.PathLike[str]) -> FidInception:
        """Load pytorch-fid's state dict from ``path`` (tensors only; every key must match)."""
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        self.net.load_state_dict(state, strict=True)
        return self.eval()

    def forward(self, images: torch.Tensor) -> InceptionOutput:
        """images: (B, 3, H, W) float RGB in [0, 1], any H, W -> :class:`InceptionOutput`."""
        assert_shape(images, ("B", 3, None, None), "images")
        assert_float(images, "images")
        n = self.net
        x = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1, n.Conv2d_3b_1x1,
                      n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b,
                      n.Mixed_6c, n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = layer(x)
        pool = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return InceptionOutput(pool=pool, logits=n.fc(pool))


def load_fid_inception(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> FidInception:
    """The FID Inception with the weights at ``path`` (get the checked path from
    ``core.metrics.weights.weights_path("inception-fid")``), in eval mode on ``device``."""
    return FidInception().load(path).to(device)
