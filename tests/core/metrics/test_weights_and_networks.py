"""Imported metric weights (SHA-256 pinned) and the networks that read them, without the real files."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torchvision.models import Inception3, alexnet

from core.errors import EXIT_ASSET
from core.metrics import weights
from core.metrics.inception import FEATURE_DIM, NUM_CLASSES, FidInception, load_fid_inception
from core.metrics.lpips_metric import load_lpips, lpips_distance


def test_missing_weights_say_which_file_and_how(tmp_path):
    with pytest.raises(weights.MissingWeightsError) as info:
        weights.weights_path("inception-fid", home=tmp_path)
    msg = str(info.value)
    assert info.value.exit_code == EXIT_ASSET
    assert "pt_inception-2015-12-05-6726825d.pth" in msg
    assert "gafet assets import-weights inception-fid" in msg


def test_import_checks_the_hash(tmp_path):
    wrong = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    wrong.write_bytes(b"not the weights")
    with pytest.raises(weights.WeightsIntegrityError, match="Nothing was imported"):
        weights.import_weights("inception-fid", wrong, home=tmp_path / "home")
    assert not weights.is_imported("inception-fid", home=tmp_path / "home")
    with pytest.raises(weights.HashRequiredError, match="needs --sha256"):  # no pinned hash: the user's
        weights.import_weights("CurricularFace", wrong, home=tmp_path)
    with pytest.raises(weights.UnknownWeightsError, match="arcface-r100 .* or arcface-r50"):
        weights.import_weights("arcface", wrong, home=tmp_path)
    with pytest.raises(weights.WeightsFileUnreadableError):
        weights.import_weights("lpips-alexnet", tmp_path / "absent.pth", home=tmp_path)


def test_import_copies_and_detects_tampering(tmp_path, monkeypatch):
    data = b"pretend weights"
    fake = weights.WeightsFile(name="inception-fid", filename="w.pth", size=len(data), used_by="FID",
                               sha256=hashlib.sha256(data).hexdigest(), origin="a test")
    monkeypatch.setitem(weights.WEIGHTS, "inception-fid", fake)
    src = tmp_path / "download.pth"
    src.write_bytes(data)
    home = tmp_path / "home"
    dest = weights.import_weights("inception-fid", src, home=home)
    assert dest.read_bytes() == data and weights.weights_path("inception-fid", home=home) == dest
    dest.write_bytes(b"pretend weightZ")  # same size, other content
    with pytest.raises(weights.WeightsIntegrityError):
        weights.weights_path("inception-fid", home=home)


def test_fid_inception_takes_torchvision_keys_and_gives_pool3(tmp_path):
    net = FidInception()
    reference = Inception3(num_classes=NUM_CLASSES, aux_logits=False, init_weights=False)
    assert net.net.state_dict().keys() == reference.state_dict().keys()  # what pytorch-fid's file holds
    path = tmp_path / "state.pth"
    torch.manual_seed(0)
    state = net.net.state_dict()
    torch.save({k: torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()}, path)
    loaded = load_fid_inception(path)
    with torch.no_grad():
        out = loaded(torch.rand(1, 3, 64, 64))
    assert out.pool.shape == (1, FEATURE_DIM) and out.logits.shape == (1, NUM_CLASSES)


def test_lpips_reads_an_alexnet_state_dict(tmp_path):
    path = tmp_path / "alexnet.pth"
    torch.manual_seed(0)
    torch.save(alexnet(weights=None).state_dict(), path)
    model = load_lpips(path)
    x = (torch.rand(32, 32, 3) * 255).to(torch.uint8).numpy()
    y = x.copy()
    y[:16] = 255 - y[:16]
    assert lpips_distance(x, x, model) == pytest.approx(0.0, abs=1e-6)
    assert lpips_distance(x, y, model) > 0
