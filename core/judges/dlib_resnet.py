"""dlib's 128-d face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch.

The network is the ``anet_type`` of dlib's ``dnn_face_recognition_ex.cpp`` (Davis King, 2017): a
29-convolution ResNet on 150x150 RGB chips (see :mod:`core.judges.face_chip`), its batch norms
frozen into per-channel affines, ending in global average pooling and a 128-d linear layer
without bias. Its descriptors are not L2-normalised; two faces are the same person when their
Euclidean distance is below 0.6 (the threshold stored in the file's metric loss).

    input   (x - mean_rgb) / 256, mean_rgb = (122.782, 117.001, 104.298)
    stem    conv 7x7/2 (32, no padding) -> affine -> relu -> max pool 3x3/2 (no padding)
    stages  3 x block(32); block(64, down) + 3 x block(64); block(128, down) + 2 x block(128);
            block(256, down) + 2 x block(256); block(256, down)
    block   relu(affine(conv 3x3(relu(affine(conv 3x3/s(x))))) + shortcut(x))
            shortcut = x, or for a down block avg pool 2x2/2 of x; where the two differ in channels
            or size, dlib's add_prev zero-pads the smaller one at the end (bottom, right, last
            channels), which :func:`padded_add` reproduces
    head    mean over H, W -> fc 256 -> 128 (no bias)

Spatial sizes: stem 150 -> 72 -> 35, then stages 35, 17, 8, 4, 2 (the last two down blocks'
3x3/2 convolutions give 3 and 1 against their shortcuts' 4 and 2), then 1. The layout above is
dlib's; the numbers (weights, strides, paddings, pooling windows, input means) are read from the
file and checked against it.

Checked against dlib's own runtime (``dlib.face_recognition_model_v1(...).compute_face_descriptor``
on 150x150 chips, dlib-bin 20.0.1): max abs difference about 5e-7 on real photos
(``tests/core/judges/test_dlib_resnet.py`` asserts <= 1e-3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_float, assert_shape
from core.judges.dlib_dat import DlibAffine, DlibConv, DlibFc, DlibPool, Wrapper, read_dlib_net
from core.judges.errors import JudgeWeightsError, judge_file
from core.judges.face_chip import run_on_chips

ASSET = "identity-dlib"
WEIGHTS = "dlib_face_recognition_resnet_model_v1.dat"
JUDGE = "identity judge (dlib's face-recognition ResNet)"
SAME_PERSON_DISTANCE = 0.6  # dlib's threshold on the Euclidean distance of two descriptors
INPUT_SIZE = 150
# (width, plain blocks, whether a down block comes first), from the input outward (alevel4 ... alevel0)
STAGES = ((32, 3, False), (64, 3, True), (128, 2, True), (256, 2, True), (256, 0, True))


def _block_layout(down: bool) -> tuple[Wrapper, ...]:
    """One residual block as dlib nests it, from its input outward."""
    # tag1, con, affine, relu, con, affine
    body: tuple[Wrapper, ...] = ("tag", "layer", "layer", "layer", "layer", "layer")
    if down:
        return (*body, "tag", "skip", "layer", "layer", "layer")  # tag2 skip1 avg_pool add_prev2 relu
    return (*body, "layer", "layer")  # add_prev1 relu


def _stage_blocks() -> list[tuple[int, bool]]:
    """(width, down) of every block, from the input outward."""
    blocks = []
    for width, plain, down in STAGES:
        if down:
            blocks.append((width, True))
        blocks += [(width, False)] * plain
    return blocks


def network_layout() -> tuple[Wrapper, ...]:
    """The wrapper sequence of dlib's anet_type, from the input outward (see ``dlib_dat``)."""
    layout: list[Wrapper] = ["layer"] * 4  # con affine relu max_pool
    for _, down in _stage_blocks():
        layout += _block_layout(down)
    return (*layout, "layer", "layer")  # avg_pool_everything, fc_no_bias


class Affine(nn.Module):
    """Per-channel y = gamma * x + beta (dlib's ``affine_``, a frozen batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma[:, None, None] + self.beta[:, None, None]


def padded_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum of two (B, C, H, W) tensors of possibly different C, H, W, each
    zero-padded at the end of every dimension to the larger size."""
    size = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True)]

    def pad(t: torch.Tensor) -> torch.Tensor:
        c, h, w = t.shape[1:]
        return F.pad(t, (0, size[2] - w, 0, size[1] - h, 0, size[0] - c))

    return pad(a) + pad(b)


class ResBlock(nn.Module):
    """dlib's ``ares`` (down=False) or ``ares_down`` (down=True) block."""

    def __init__(self, in_ch: int, out_ch: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.bn1 = Affine(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.bn2 = Affine(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(padded_add(y, shortcut))


class DlibFaceResNet(nn.Module):
    """dlib's face-recognition ResNet: aligned 150x150 chips -> 128-d identity descriptors.

    Batched, device-agnostic and differentiable (use it as an identity loss with its parameters
    frozen). Build it with :func:`load_dlib_resnet`; a fresh instance has untrained weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor([122.782, 117.001, 104.298]).view(1, 3, 1, 1))
        self.stem_conv = nn.Conv2d(3, 32, 7, stride=2)
        self.stem_bn = Affine(32)
        blocks, width = [], 32
        for out, down in _stage_blocks():
            blocks.append(ResBlock(width, out, down))
            width = out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(width, 128, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        """chips: (B, 3, 150, 150) float RGB on dlib's 0..255 pixel scale (a uint8 chip as float),
        from :func:`core.judges.face_chip.face_chip` or ``warp_chips``.
        Returns (B, 128) descriptors (not normalised; same person: distance < 0.6)."""
        assert_shape(chips, (None, 3, INPUT_SIZE, INPUT_SIZE), "chips")
        assert_float(chips, "chips")
        x = (chips - self.mean_rgb) / 256.0
        x = F.max_pool2d(F.relu(self.stem_bn(self.stem_conv(x))), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


def descriptors_from_chips(net: DlibFaceResNet, chips: np.ndarray) -> np.ndarray:
    """Descriptors of uint8 chips. chips: (B, 150, 150, 3) or (150, 150, 3) uint8 RGB ->
    (B, 128) or (128,) float32, computed on ``net``'s device without gradients."""
    return run_on_chips(net, chips, INPUT_SIZE)


def _copy(dst: torch.Tensor, src: np.ndarray, what: str) -> None:
    if tuple(dst.shape) != src.shape:
        raise JudgeWeightsError(f"{WEIGHTS}: {what} has shape {src.shape}, the network expects "
                                f"{tuple(dst.shape)}.")
    with torch.no_grad():
        dst.copy_(torch.from_numpy(src))


def _load_conv(conv: nn.Conv2d, src: DlibConv, what: str) -> None:
    if (src.stride != conv.stride or src.padding != conv.padding or src.fused_relu
            or src.bias is None):
        raise JudgeWeightsError(f"{WEIGHTS}: {what} has stride {src.stride}, padding {src.padding}, "
                                f"bias {src.bias is not None}, fused relu {src.fused_relu}; expected "
                                f"stride {conv.stride}, padding {conv.padding}, a bias and no relu.")
    assert conv.bias is not None
    _copy(conv.weight, src.weight, f"{what} weight")
    _copy(conv.bias, src.bias, f"{what} bias")


def _load_affine(bn: Affine, src: DlibAffine, what: str) -> None:
    if src.disabled:
        raise JudgeWeightsError(f"{WEIGHTS}: {what} is disabled in the file; expected an active affine.")
    _copy(bn.gamma, src.gamma, f"{what} gamma")
    _copy(bn.beta, src.beta, f"{what} beta")


def load_state_from_dat(net: DlibFaceResNet, path: Path) -> None:
    """Copy the weights of dlib's ``.dat`` file into ``net``, checking every shape, stride,
    padding and pooling window against the architecture."""
    parsed = read_dlib_net(path, network_layout())
    if parsed.input.size not in (None, (INPUT_SIZE, INPUT_SIZE)):
        raise JudgeWeightsError(f"{WEIGHTS}: input size {parsed.input.size}, expected 150x150.")
    with torch.no_grad():
        net.mean_rgb.copy_(torch.tensor(parsed.input.mean_rgb).view(1, 3, 1, 1))
    convs = [x for x in parsed.layers if isinstance(x, DlibConv)]
    affines = [x for x in parsed.layers if isinstance(x, DlibAffine)]
    pools = [x for x in parsed.layers if isinstance(x, DlibPool)]
    fcs = [x for x in parsed.layers if isinstance(x, DlibFc)]
    blocks = list(net.blocks)
    want_pools = [DlibPool("max", (3, 3), (2, 2), (0, 0))]
    want_pools += [DlibPool("avg", (2, 2), (2, 2), (0, 0)) for b in blocks if b.down]
    want_pools.append(DlibPool("avg", (0, 0), (1, 1), (0, 0)))
    if pools != want_pools:
        raise JudgeWeightsError(f"{WEIGHTS}: pooling layers {pools} differ from dlib's anet_type.")
    if len(convs) != 1 + 2 * len(blocks) or len(affines) != len(convs) or len(fcs) != 1:
        raise JudgeWeightsError(f"{WEIGHTS}: {len(convs)} convolutions, {len(affines)} affines, "
                                f"{len(fcs)} fc layers; expected {1 + 2 * len(blocks)}, same, 1.")
    _load_conv(net.stem_conv, convs[0], "the stem convolution")
    _load_affine(net.stem_bn, affines[0], "the stem affine")
    for i, block in enumerate(blocks):
        _load_conv(block.conv1, convs[1 + 2 * i], f"block {i} conv 1")
        _load_affine(block.bn1, affines[1 + 2 * i], f"block {i} affine 1")
        _load_conv(block.conv2, convs[2 + 2 * i], f"block {i} conv 2")
        _load_affine(block.bn2, affines[2 + 2 * i], f"block {i} affine 2")
    if fcs[0].bias is not None:
        raise JudgeWeightsError(f"{WEIGHTS}: the last layer has a bias; dlib's anet_type has none.")
    _copy(net.fc.weight, fcs[0].weight, "the fc weight")


def load_dlib_resnet(device: str | torch.device = "cpu") -> DlibFaceResNet:
    """The network with dlib's weights from the asset ``identity-dlib``, frozen, in eval mode.

    Raises :class:`~core.judges.errors.JudgeAssetMissingError` (naming ``gafet assets fetch
    identity-dlib``) when not installed, :class:`~core.judges.errors.JudgeWeightsError` when the
    file is not the expected network.
    """
    net = DlibFaceResNet()
    load_state_from_dat(net, judge_file(ASSET, WEIGHTS, JUDGE))
    return net.requires_grad_(False).eval().to(device)
