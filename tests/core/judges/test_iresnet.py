"""The face-recognition backbones CSIM can use (CurricularFace IR-101, ArcFace IResNet-100/-50):
their size against published figures, their state-dict layouts, their forward pass against a
functional re-statement of the reference code, and the loader's refusals."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.errors import EXIT_ASSET
from core.judges.iresnet import (
    EMBEDDING_DIM,
    FACE_NETS,
    FaceNetWeightsError,
    checked_state,
    embeddings_from_chips,
    load_face_net,
    read_state_file,
)

# Published parameter counts.
# * ArcFace R100 / R50 (the PyTorch IResNets of insightface arcface_torch): 65,156,160 and
#   43,590,848, the "Inference Cost" table of a face-attendance project's README found by the
#   code search (its repository is not named by the index); R100 also agrees with OpenVINO's
#   open_model_zoo models/public/face-recognition-resnet100-arcface-onnx/README.md (insightface's
#   MXNet LResNet100E-IR: 65.1320 MParams, 24.2115 GFLOPs) to 0.04 %.
# * CurricularFace IR-101: no published count was found. Its model_irse.py differs from
#   iresnet100 in three documented ways, which fix its count from R100's: no BN between the
#   first conv and the PReLU of a unit (2 * width per unit: 2 * (3*64 + 13*128 + 30*256 + 3*512)
#   = 22,144), a weightless max-pool shortcut in the first unit (64 -> 64, so no 1x1 conv + BN:
#   4,096 + 128), and a final BatchNorm1d without affine (1,024).
ARCFACE_R100_PARAMS = 65_156_160
ARCFACE_R50_PARAMS = 43_590_848
OPENVINO_R100_MPARAMS = 65.1320
IR101_PARAMS = ARCFACE_R100_PARAMS - 22_144 - (4_096 + 128) - 1_024


def _params(key: str) -> int:
    return sum(p.numel() for p in FACE_NETS[key].build().parameters())


def test_parameter_counts_match_the_published_figures() -> None:
    assert _params("arcface-r100") == ARCFACE_R100_PARAMS
    assert _params("arcface-r50") == ARCFACE_R50_PARAMS
    assert abs(ARCFACE_R100_PARAMS / 1e6 - OPENVINO_R100_MPARAMS) / OPENVINO_R100_MPARAMS < 5e-4
    assert _params("curricularface") == IR101_PARAMS == 65_128_768


def test_state_dict_layouts_are_the_released_files() -> None:
    """Key names and shapes as insightface's iresnet.py and CurricularFace's model_irse.py make them."""
    arc = FACE_NETS["arcface-r100"].build().state_dict()
    assert len([k for k in arc if k.startswith("layer3.") and k.endswith(".conv1.weight")]) == 30
    for key, shape in {"conv1.weight": (64, 3, 3, 3), "prelu.weight": (64,), "bn1.running_var": (64,),
                       "layer1.0.bn1.weight": (64,), "layer1.0.conv1.weight": (64, 64, 3, 3),
                       "layer1.0.bn2.bias": (64,), "layer1.0.prelu.weight": (64,),
                       "layer1.0.conv2.weight": (64, 64, 3, 3), "layer1.0.bn3.running_mean": (64,),
                       "layer1.0.downsample.0.weight": (64, 64, 1, 1), "layer1.0.downsample.1.weight": (64,),
                       "layer2.12.conv2.weight": (128, 128, 3, 3),
                       "layer4.0.downsample.0.weight": (512, 256, 1, 1),
                       "bn2.weight": (512,), "fc.weight": (512, 25088), "fc.bias": (512,),
                       "features.weight": (512,), "features.running_var": (512,)}.items():
        assert tuple(arc[key].shape) == shape, key
    assert "layer1.1.downsample.0.weight" not in arc and "layer2.13.bn1.weight" not in arc

    cur = FACE_NETS["curricularface"].build().state_dict()
    assert len([k for k in cur if k.endswith(".res_layer.1.weight")]) == 3 + 13 + 30 + 3
    for key, shape in {"input_layer.0.weight": (64, 3, 3, 3), "input_layer.1.running_mean": (64,),
                       "input_layer.2.weight": (64,), "body.0.res_layer.0.weight": (64,),
                       "body.0.res_layer.1.weight": (64, 64, 3, 3), "body.0.res_layer.2.weight": (64,),
                       "body.0.res_layer.3.weight": (64, 64, 3, 3), "body.0.res_layer.4.bias": (64,),
                       "body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
                       "body.3.shortcut_layer.1.running_var": (128,),
                       "body.16.shortcut_layer.0.weight": (256, 128, 1, 1),
                       "body.46.shortcut_layer.0.weight": (512, 256, 1, 1), "output_layer.0.weight": (512,),
                       "output_layer.3.weight": (512, 25088), "output_layer.3.bias": (512,),
                       "output_layer.4.running_mean": (512,)}.items():
        assert tuple(cur[key].shape) == shape, key
    # max-pool shortcuts (the width stays) and the affine-free final BatchNorm1d hold no weights
    assert not any(k.startswith(("body.0.shortcut_layer", "body.4.shortcut_layer")) for k in cur)
    assert "output_layer.4.weight" not in cur and "body.48.res_layer.4.weight" in cur
    assert "body.49.res_layer.0.weight" not in cur


def _randomised(key: str, seed: int) -> dict[str, torch.Tensor]:
    """The network's state with random weights and BatchNorm statistics (so each BN matters)."""
    g = torch.Generator().manual_seed(seed)
    state = FACE_NETS[key].build().state_dict()
    out = {}
    for k, v in state.items():
        if k.endswith("running_var"):
            out[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith(("running_mean", "bias")) or (k.endswith("weight") and v.ndim == 1):
            out[k] = 0.1 * torch.randn(v.shape, generator=g) + (1.0 if k.endswith("weight") else 0.0)
        else:
            out[k] = v
    return out


def _bn(x: torch.Tensor, s: dict[str, torch.Tensor], p: str, affine: bool = True) -> torch.Tensor:
    return F.batch_norm(x, s[f"{p}.running_mean"], s[f"{p}.running_var"],
                        s[f"{p}.weight"] if affine else None, s[f"{p}.bias"] if affine else None,
                        training=False, eps=1e-5)


def _arcface_reference(s: dict[str, torch.Tensor], x: torch.Tensor, blocks: tuple[int, ...]) -> torch.Tensor:
    """insightface IResNet.forward / IBasicBlock.forward, restated with torch.nn.functional."""
    x = F.prelu(_bn(F.conv2d(x, s["conv1.weight"], padding=1), s, "bn1"), s["prelu.weight"])
    for i, n in enumerate(blocks):
        for j in range(n):
            p, stride = f"layer{i + 1}.{j}", 2 if j == 0 else 1
            out = F.conv2d(_bn(x, s, f"{p}.bn1"), s[f"{p}.conv1.weight"], padding=1)
            out = F.prelu(_bn(out, s, f"{p}.bn2"), s[f"{p}.prelu.weight"])
            out = _bn(F.conv2d(out, s[f"{p}.conv2.weight"], stride=stride, padding=1), s, f"{p}.bn3")
            short = x
            if f"{p}.downsample.0.weight" in s:
                short = _bn(F.conv2d(x, s[f"{p}.downsample.0.weight"], stride=stride), s, f"{p}.downsample.1")
            x = out + short
    x = F.linear(torch.flatten(_bn(x, s, "bn2"), 1), s["fc.weight"], s["fc.bias"])
    return _bn(x, s, "features")


def _curricular_reference(s: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """CurricularFace Backbone.forward / bottleneck_IR.forward (eval), restated functionally."""
    x = F.prelu(_bn(F.conv2d(x, s["input_layer.0.weight"], padding=1), s, "input_layer.1"),
                s["input_layer.2.weight"])
    unit = 0
    for n in (3, 13, 30, 3):
        for j in range(n):
            p, stride = f"body.{unit}", 2 if j == 0 else 1
            res = F.conv2d(_bn(x, s, f"{p}.res_layer.0"), s[f"{p}.res_layer.1.weight"], padding=1)
            res = F.conv2d(F.prelu(res, s[f"{p}.res_layer.2.weight"]), s[f"{p}.res_layer.3.weight"],
                           stride=stride, padding=1)
            res = _bn(res, s, f"{p}.res_layer.4")
            if f"{p}.shortcut_layer.0.weight" in s:
                short = _bn(F.conv2d(x, s[f"{p}.shortcut_layer.0.weight"], stride=stride), s,
                            f"{p}.shortcut_layer.1")
            else:
                short = F.max_pool2d(x, 1, stride)
            x, unit = res + short, unit + 1
    x = torch.flatten(_bn(x, s, "output_layer.0"), 1)
    x = F.linear(x, s["output_layer.3.weight"], s["output_layer.3.bias"])
    return _bn(x, s, "output_layer.4", affine=False)


@pytest.mark.parametrize("key", ["curricularface", "arcface-r50"])
def test_forward_is_the_reference_computation(key: str, tmp_path: Path) -> None:
    state = _randomised(key, seed=3)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    net = load_face_net(key, path)
    chips = np.random.default_rng(0).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    got = embeddings_from_chips(net, chips)
    x = (torch.from_numpy(chips).permute(0, 3, 1, 2).double() / 255 - 0.5) / 0.5
    s64 = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
    with torch.no_grad():
        want = (_curricular_reference(s64, x) if key == "curricularface"
                else _arcface_reference(s64, x, (3, 4, 14, 3))).numpy()
    assert got.shape == (2, EMBEDDING_DIM) and got.dtype == np.float32
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-4 * scale, np.abs(got - want).max() / scale
    assert embeddings_from_chips(net, chips[0]) == pytest.approx(got[0], abs=1e-5 * scale)


def test_checked_state_names_what_is_wrong() -> None:
    spec = FACE_NETS["arcface-r50"]
    state = spec.build().state_dict()
    missing = {k: v for k, v in state.items() if k != "layer2.1.conv1.weight"}
    with pytest.raises(FaceNetWeightsError, match=r"missing: layer2\.1\.conv1\.weight") as info:
        checked_state(spec, missing, "r50.pth")
    assert "'r50.pth' is not ArcFace IResNet-50 weights" in str(info.value)
    assert info.value.exit_code == EXIT_ASSET
    wrong = dict(state, **{"fc.weight": torch.zeros(512, 100)})
    shape = r"wrong shape: fc\.weight \(512, 100\) \(expected \(512, 25088\)\)"
    with pytest.raises(FaceNetWeightsError, match=shape):
        checked_state(spec, wrong, "r50.pth")
    with pytest.raises(FaceNetWeightsError, match=r"unexpected: head\.kernel"):
        checked_state(spec, dict(state, **{"head.kernel": torch.zeros(3)}), "r50.pth")
    with pytest.raises(FaceNetWeightsError, match="not ArcFace IResNet-100"):  # an R50 file is not an R100
        checked_state(FACE_NETS["arcface-r100"], state, "r50.pth")
    nan = dict(state, **{"fc.bias": torch.full((512,), float("nan"))})
    with pytest.raises(FaceNetWeightsError, match="NaN or infinite"):
        checked_state(spec, nan, "r50.pth")


def test_checked_state_accepts_what_real_files_hold() -> None:
    """A DataParallel 'module.' prefix, absent num_batches_tracked counters (old PyTorch), fp16."""
    spec = FACE_NETS["arcface-r50"]
    state = spec.build().state_dict()
    variant = {f"module.{k}": v.half() if v.is_floating_point() else v for k, v in state.items()
               if not k.endswith("num_batches_tracked")}
    out = checked_state(spec, variant, "r50.pth")
    assert out.keys() == state.keys()
    assert all(v.dtype == state[k].dtype for k, v in out.items())
    assert torch.equal(out["fc.weight"], state["fc.weight"].half().float())


class _Payload:
    """Stands for any object a crafted pickle could carry."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_files_that_are_not_plain_tensors_are_refused(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    crafted = tmp_path / "crafted.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Payload()}, crafted)
    with pytest.raises(FaceNetWeightsError, match="arbitrary pickled objects are refused") as info:
        read_state_file(crafted)
    assert str(crafted) in str(info.value)
    assert "this must never run" not in capsys.readouterr().out
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(FaceNetWeightsError, match="cannot be read as PyTorch weights"):
        read_state_file(raw)
    assert "this must never run" not in capsys.readouterr().out
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(FaceNetWeightsError, match="cannot be read as PyTorch weights"):
        read_state_file(text)
    nested = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "epoch": 3}, nested)
    with pytest.raises(FaceNetWeightsError, match="is not a state dict"):
        read_state_file(nested)
    with pytest.raises(FaceNetWeightsError, match="does not exist"):
        read_state_file(tmp_path / "absent.pth")


def test_a_network_giving_nan_is_refused(tmp_path: Path) -> None:
    state = FACE_NETS["arcface-r50"].build().state_dict()
    state["fc.bias"] = torch.full((512,), 1.0)  # finite weights whose output overflows: 3e38 * ~1 + 3e38
    state["features.weight"] = torch.full((512,), 3e38)
    state["features.bias"] = torch.full((512,), 3e38)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    net = load_face_net("arcface-r50", path)
    with pytest.raises(FaceNetWeightsError, match="NaN or infinite embeddings"):
        embeddings_from_chips(net, np.zeros((112, 112, 3), np.uint8))
    with pytest.raises(ValueError, match="expected \\(B, 112, 112, 3\\) uint8"):
        embeddings_from_chips(net, np.zeros((150, 150, 3), np.uint8))
