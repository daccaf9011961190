"""training.perceptual: the VGG files (pinned hashes, clear error when missing), loading torchvision
state dicts, and the offline ``--perceptual random`` networks."""

from __future__ import annotations

import warnings
from pathlib import Path

import lpips
import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from core.errors import EXIT_ASSET
from core.metrics import weights
from core.metrics.lpips_metric import build_lpips
from training.perceptual import (
    PerceptualWeightsMissingError,
    Vgg19Features,
    build_perceptual,
    missing_perceptual_weights,
)


def _torchvision_state(config: str, seed: int) -> dict[str, torch.Tensor]:
    """A state dict laid out like torchvision's vgg16/vgg19 files (random values, tiny classifier)."""
    torch.manual_seed(seed)
    features = make_layers(cfgs[config])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored: LPIPS and L_cx use the convolutions only
    return state


def test_vgg_files_are_pinned_with_torchvision_hashes() -> None:
    for name, prefix in (("vgg16", "397923af"), ("vgg19", "dcbb9e9d")):
        w = weights.weights_file(name)
        assert w.filename == f"{name}-{prefix}.pth"
        assert w.sha256 is not None and w.sha256.startswith(prefix) and len(w.sha256) == 64
        assert w.size is not None and w.size > 500_000_000
        assert f"download.pytorch.org/models/{w.filename}" in w.origin


def test_missing_weights_give_the_clear_error(tmp_path: Path) -> None:
    assert missing_perceptual_weights(need_vgg16=True, need_vgg19=True, home=tmp_path) == ["vgg16", "vgg19"]
    with pytest.raises(PerceptualWeightsMissingError) as info:
        build_perceptual(mode="imagenet", need_lpips=True, need_vgg19=True, vgg19_layers=("relu1_2",),
                         home=tmp_path)
    msg = str(info.value)
    for text in ("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                 "`gafet assets import-weights vgg16 vgg16-397923af.pth`", "vgg19-dcbb9e9d.pth",
                 "`gafet assets import-weights vgg19 vgg19-dcbb9e9d.pth`", "--perceptual random"):
        assert text in msg
    assert info.value.exit_code == EXIT_ASSET
    with pytest.raises(PerceptualWeightsMissingError, match="vgg19") as only:  # only what the losses need
        build_perceptual(mode="imagenet", need_lpips=False, need_vgg19=True, vgg19_layers=("relu1_2",),
                         home=tmp_path)
    assert "vgg16" not in str(only.value)


def test_a_wrong_file_is_not_imported(tmp_path: Path) -> None:
    bogus = tmp_path / "vgg16-397923af.pth"
    torch.save(_torchvision_state("D", 0), bogus)
    with pytest.raises(weights.WeightsIntegrityError, match="SHA-256"):
        weights.import_weights("vgg16", bogus, home=tmp_path / "home")
    assert not weights.is_imported("vgg16", tmp_path / "home")


def test_vgg19_features_read_a_torchvision_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "vgg19.pth"
    state = _torchvision_state("E", 1)
    torch.save(state, path)
    net = Vgg19Features(layers=("relu1_2", "relu2_2", "relu3_2"))
    net.load_imagenet(path)
    assert torch.equal(net.features[12].weight, state["features.12.weight"])  # conv3_2
    assert len(net.features) == 14  # truncated after relu3_2
    feats = net(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert [tuple(f.shape) for f in feats] == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8)]
    assert all(not p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training


def test_lpips_vgg_reads_a_torchvision_state_dict_like_the_lpips_package(tmp_path: Path) -> None:
    path = tmp_path / "vgg16.pth"
    state = _torchvision_state("D", 2)
    torch.save(state, path)
    ours = build_lpips("vgg", path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()
    theirs.net.load_state_dict(ours.net.state_dict())
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(ours(x, y), theirs(x, y), atol=1e-6)
        assert ours(x, x).abs().max().item() == 0.0
    assert torch.equal(ours.net.slice3.__getattr__("12").weight, state["features.12.weight"])


def test_random_mode_is_offline_seeded_and_leaves_the_global_rng(tmp_path: Path) -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = build_perceptual(mode="random", need_lpips=True, need_vgg19=True, vgg19_layers=("relu1_2", "relu2_2"),
                         seed=5, home=tmp_path)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = build_perceptual(mode="random", need_lpips=True, need_vgg19=True, vgg19_layers=("relu1_2", "relu2_2"),
                         seed=5, home=tmp_path)
    c = build_perceptual(mode="random", need_lpips=False, need_vgg19=True, vgg19_layers=("relu1_2",),
                         seed=6, home=tmp_path)
    assert a.is_random and a.seed == 5 and c.lpips is None
    assert torch.equal(a.vgg19.features[0].weight, b.vgg19.features[0].weight)
    assert not torch.equal(a.vgg19.features[0].weight, c.vgg19.features[0].weight)
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(a.lpips(x, y), b.lpips(x, y)) and a.lpips(x, y).item() > 0
