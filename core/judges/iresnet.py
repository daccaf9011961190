"""Face-recognition networks for the paper's CSIM, in the layouts of their released weights.

None of these weights ships offline: a user imports the file they downloaded
(``gafet assets import-weights curricularface|arcface-r100|arcface-r50 FILE --sha256 HEX``, see
:mod:`core.metrics.weights`), and this module reads it into the matching network.

* **ArcFace IResNet** (insightface ``recognition/arcface_torch/backbones/iresnet.py``; its
  ``backbone.pth`` state dicts, e.g. ``ms1mv3_arcface_r100_fp16``):

      stem    conv1 3x3 (3 -> 64) -> bn1 -> prelu
      layerK  blocks of IBasicBlock, the first with stride 2 and a 1x1/2 conv + BN ``downsample``
              widths 64, 128, 256, 512; r50: 3, 4, 14, 3 blocks; r100: 3, 13, 30, 3
      block   bn1 -> conv1 3x3 -> bn2 -> prelu -> conv2 3x3/s -> bn3, plus the shortcut
      head    bn2 (BN2d 512) -> flatten (512*7*7) -> fc (-> 512, bias) -> features (BN1d 512)

* **CurricularFace IR-101** (``HuangYG123/CurricularFace``, ``backbone/model_irse.py``
  ``IR_101([112, 112])``; its ``CurricularFace_Backbone.pth``): the same residual unit, named
  ``body.N.res_layer.{0: BN, 1: conv, 2: PReLU, 3: conv/s, 4: BN}``; its shortcut is a 1x1/2
  max pool (``body.N.shortcut_layer``, no weights) where the width does not change, else a
  1x1/s conv + BN (``shortcut_layer.0/1``). ``input_layer.{0: conv, 1: BN, 2: PReLU}``;
  ``output_layer.{0: BN2d, 1: dropout, 2: flatten, 3: linear, 4: BN1d without affine}``.
  Units 3, 13, 30, 3 (the first of every stage with stride 2).

Both take 112x112 RGB faces aligned with ArcFace's five-point template
(:mod:`core.judges.arcface_align`), normalised as (x / 255 - 0.5) / 0.5, and give a 512-d
embedding compared by its cosine. At 112x112 both cost about 24 GFLOPs per face.

Weights are read with ``torch.load(weights_only=True)`` (no arbitrary pickle) and must hold
exactly the network's keys and shapes (BatchNorm's ``num_batches_tracked`` counters may be absent,
as in files saved by old PyTorch; a DataParallel ``module.`` prefix on every key is dropped).
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.checks import assert_shape
from core.judges.errors import JudgeWeightsError
from core.judges.face_chip import run_on_chips

INPUT_SIZE = 112  # the networks' input side (px)
EMBEDDING_DIM = 512
INPUT_MEAN, INPUT_STD = 0.5, 0.5  # on x / 255, every channel (RGB)
_BN_COUNTER = "num_batches_tracked"


class FaceNetWeightsError(JudgeWeightsError):
    """A face-recognition weights file that is not the expected network (exit code 5)."""


# --- ArcFace IResNet (insightface arcface_torch layout) --------------------------------------


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """bn1 -> conv1 3x3 -> bn2 -> prelu -> conv2 3x3/stride -> bn3, plus x or downsample(x)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = _conv3x3(cin, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = _conv3x3(cout, cout, stride)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """ArcFace's IResNet at 112x112 (module docstring). blocks: blocks per stage, e.g. (3, 13, 30, 3).

    forward: (B, 3, 112, 112) float, normalised input -> (B, 512) embedding (not unit length).
    """

    def __init__(self, blocks: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.conv1 = _conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        cin = 64
        for i, (width, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            layer = [IBasicBlock(cin, width, 2)] + [IBasicBlock(width, width, 1) for _ in range(count - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            cin = width
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.fc = nn.Linear(512 * 7 * 7, EMBEDDING_DIM)
        self.features = nn.BatchNorm1d(EMBEDDING_DIM, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(torch.flatten(self.bn2(x), 1)))


# --- CurricularFace IR-101 (HuangYG123/CurricularFace model_irse layout) ---------------------


class IRUnit(nn.Module):
    """res_layer (BN, conv 3x3, PReLU, conv 3x3/stride, BN) plus shortcut_layer (max pool 1x1/stride
    when the width stays, else conv 1x1/stride + BN)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.shortcut_layer: nn.Module
        if cin == cout:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                                nn.BatchNorm2d(cout))
        self.res_layer = nn.Sequential(nn.BatchNorm2d(cin), _conv3x3(cin, cout), nn.PReLU(cout),
                                       _conv3x3(cout, cout, stride), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRNet(nn.Module):
    """The IR backbone of CurricularFace / face.evoLVe at 112x112 (module docstring).
    units: units per stage, (3, 13, 30, 3) for IR-101.

    forward: (B, 3, 112, 112) float, normalised input -> (B, 512) embedding (not unit length).
    """

    def __init__(self, units: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                         nn.PReLU(64))
        body: list[nn.Module] = []
        cin = 64
        for width, count in zip((64, 128, 256, 512), units, strict=True):
            body += [IRUnit(cin, width, 2)] + [IRUnit(width, width, 1) for _ in range(count - 1)]
            cin = width
        self.body = nn.Sequential(*body)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(0.4), nn.Flatten(),
                                          nn.Linear(512 * 7 * 7, EMBEDDING_DIM),
                                          nn.BatchNorm1d(EMBEDDING_DIM, affine=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_layer(self.body(self.input_layer(x)))


# --- the importable networks -----------------------------------------------------------------


@dataclass(frozen=True)
class FaceNetSpec:
    """One importable face-recognition network.

    key: its name in ``import-weights`` / ``--identity-net``. label: the short name put beside
    CSIM ("CSIM (CurricularFace)"). title: the full name. build: a randomly initialised backbone
    whose ``state_dict`` has the released file's keys.
    """

    key: str
    label: str
    title: str
    build: Callable[[], nn.Module]


FACE_NETS: dict[str, FaceNetSpec] = {
    "curricularface": FaceNetSpec("curricularface", "CurricularFace", "CurricularFace IR-101",
                                  lambda: IRNet((3, 13, 30, 3))),
    "arcface-r100": FaceNetSpec("arcface-r100", "ArcFace R100", "ArcFace IResNet-100",
                                lambda: IResNet((3, 13, 30, 3))),
    "arcface-r50": FaceNetSpec("arcface-r50", "ArcFace R50", "ArcFace IResNet-50",
                               lambda: IResNet((3, 4, 14, 3))),
}


def face_net_spec(key: str) -> FaceNetSpec:
    """The spec called ``key``; ValueError naming the known ones otherwise."""
    try:
        return FACE_NETS[key]
    except KeyError:
        raise ValueError(f"unknown face network {key!r}; known: {', '.join(FACE_NETS)}") from None


class FaceEmbedder(nn.Module):
    """A backbone with its input normalisation: (B, 3, 112, 112) float RGB in [0, 255] ->
    (B, 512) float embedding (not unit length). Differentiable; any device."""

    def __init__(self, spec: FaceNetSpec, backbone: nn.Module) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        assert_shape(chips, ("B", 3, INPUT_SIZE, INPUT_SIZE), "chips")
        return self.backbone((chips / 255.0 - INPUT_MEAN) / INPUT_STD)


def read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.pth`` file, read with ``torch.load(weights_only=True)`` on the CPU.

    Raises :class:`FaceNetWeightsError` naming the file when it cannot be read that way (not a
    PyTorch file, truncated, or a pickle holding anything but tensors and plain containers) or
    when it is not a flat {name: tensor} mapping.
    """
    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles: the error below says it all
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FaceNetWeightsError(f"The weights file '{path}' does not exist.") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile,
            AttributeError, TypeError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FaceNetWeightsError(
            f"'{path}' cannot be read as PyTorch weights (only tensors are accepted; "
            f"arbitrary pickled objects are refused): {first}") from None
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise FaceNetWeightsError(f"'{path}' is not a state dict (a mapping of names to tensors).")
    return state


def checked_state(spec: FaceNetSpec, state: dict[str, torch.Tensor], source: str
                  ) -> dict[str, torch.Tensor]:
    """``state`` made loadable into ``spec``'s backbone, after checking it holds exactly its keys
    and shapes (module docstring). Floating tensors become float32. source: the file's name, for
    messages. Raises :class:`FaceNetWeightsError` naming the file, the network and the first few
    missing, unexpected or misshapen keys."""
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    want = spec.build().state_dict()
    optional = {k for k in want if k.endswith(_BN_COUNTER)}
    missing = [k for k in want if k not in state and k not in optional]
    extra = [k for k in state if k not in want]
    shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
              for k, v in want.items() if k in state and state[k].shape != v.shape]
    bad_type = [k for k, v in want.items() if k in state and v.is_floating_point()
                and not state[k].is_floating_point()]
    if missing or extra or shapes or bad_type:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", shapes),
                           ("not floating point", bad_type)):
            if keys:
                more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
                parts.append(f"{what}: {', '.join(keys[:3])}{more}")
        raise FaceNetWeightsError(f"'{source}' is not {spec.title} weights ({len(state)} tensors; "
                                  f"{'; '.join(parts)}).")
    out = {}
    for k, v in want.items():
        if k not in state:
            out[k] = v  # an absent num_batches_tracked counter (unused in eval mode)
        elif v.is_floating_point():
            out[k] = state[k].to(torch.float32)
        else:
            out[k] = state[k].to(v.dtype)
    nonfinite = [k for k, v in out.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if nonfinite:
        raise FaceNetWeightsError(f"'{source}' holds NaN or infinite values ({', '.join(nonfinite[:3])}).")
    return out


def load_face_net(key: str, path: Path, device: str | torch.device = "cpu") -> FaceEmbedder:
    """The network ``key`` (see :data:`FACE_NETS`) with the weights of ``path``, frozen, in eval
    mode. Raises :class:`FaceNetWeightsError` when the file is not that network's state dict."""
    spec = face_net_spec(key)
    backbone = spec.build()
    backbone.load_state_dict(checked_state(spec, read_state_file(Path(path)), str(path)))
    return FaceEmbedder(spec, backbone).requires_grad_(False).eval().to(device)


def check_weights_file(key: str, path: Path) -> None:
    """Raise :class:`FaceNetWeightsError` unless ``path`` loads into the network ``key``."""
    spec = face_net_spec(key)
    checked_state(spec, read_state_file(Path(path)), str(path))


def embeddings_from_chips(net: FaceEmbedder, chips: np.ndarray) -> np.ndarray:
    """Embeddings of uint8 chips. chips: (B, 112, 112, 3) or (112, 112, 3) uint8 RGB ->
    (B, 512) or (512,) float32, on ``net``'s device without gradients.

    Raises :class:`FaceNetWeightsError` when the network gives NaN or infinite values (weights
    that load but are not a working network)."""
    out = run_on_chips(net, chips, INPUT_SIZE)
    if not np.isfinite(out).all():
        raise FaceNetWeightsError(f"The imported {net.spec.title} gives NaN or infinite embeddings: its "
                                  "weights are not a working network. Import the right file again.")
    return out
