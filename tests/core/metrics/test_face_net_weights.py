"""Importing face-recognition weights for CSIM (CurricularFace, ArcFace): the user's SHA-256, the
network check at import time, the recorded hash every later load re-checks, and which network
``gafet evaluate`` then uses. Random-init networks stand in for the real files (none ships)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from core.errors import EXIT_ASSET, EXIT_ERROR
from core.evaluation.judges import chosen_identity_net
from core.judges.iresnet import FACE_NETS, FaceNetWeightsError
from core.metrics import weights


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def r50_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init ArcFace R50 backbone.pth, saved in half precision to keep the file small."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("r50") / "backbone.pth"
    torch.save({k: v.half() if v.is_floating_point() else v
                for k, v in FACE_NETS["arcface-r50"].build().state_dict().items()}, path)
    return path


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data home of its own for the weights (what the CLI and load_judges use)."""
    home = tmp_path / "home"
    monkeypatch.setattr(weights, "weights_dir", lambda h=None: (h or home) / "weights")
    return home


def test_import_without_a_hash_says_where_and_how(r50_file: Path, home: Path) -> None:
    with pytest.raises(weights.HashRequiredError) as info:
        weights.import_weights("arcface-r50", r50_file)
    msg = str(info.value)
    assert info.value.exit_code == EXIT_ERROR
    assert "--sha256" in msg and "sha256sum backbone.pth" in msg and "certutil" in msg
    assert "insightface" in msg and "ms1mv3_arcface_r50_fp16" in msg
    assert "gafet assets import-weights arcface-r50 backbone.pth --sha256 HEX" in msg
    with pytest.raises(weights.HashRequiredError) as info:
        weights.import_weights("curricularface", r50_file)
    assert "github.com/HuangYG123/CurricularFace" in str(info.value) and "Google Drive" in str(info.value)
    with pytest.raises(weights.HashRequiredError, match="64 hexadecimal digits"):
        weights.import_weights("arcface-r50", r50_file, sha256="abc123")
    assert not weights.is_imported("arcface-r50")
    assert not (home / "weights" / "arcface-r50").exists()


def test_a_wrong_hash_or_a_wrong_file_is_refused_at_import(r50_file: Path, home: Path,
                                                           tmp_path: Path) -> None:
    with pytest.raises(weights.WeightsIntegrityError, match="Nothing was imported") as info:
        weights.import_weights("arcface-r50", r50_file, sha256="0" * 64)
    assert info.value.exit_code == EXIT_ASSET and _sha(r50_file) in str(info.value)
    # the right hash of the wrong network: an R50 file is not an R100
    with pytest.raises(FaceNetWeightsError, match="is not ArcFace IResNet-100 weights") as info:
        weights.import_weights("arcface-r100", r50_file, sha256=_sha(r50_file))
    assert str(r50_file) in str(info.value) and "Nothing was imported" in str(info.value)
    assert "missing: layer2.4." in str(info.value)
    # a state dict with one key missing
    state = torch.load(r50_file, weights_only=True)
    del state["layer3.7.bn2.weight"]
    partial = tmp_path / "partial.pth"
    torch.save(state, partial)
    with pytest.raises(FaceNetWeightsError, match=r"missing: layer3\.7\.bn2\.weight"):
        weights.import_weights("arcface-r50", partial, sha256=_sha(partial))
    # a pickle carrying an arbitrary object, with its correct hash
    crafted = tmp_path / "crafted.pth"
    torch.save({"fc.weight": torch.zeros(1), "config": Path("/etc/passwd")}, crafted)
    with pytest.raises(FaceNetWeightsError, match="arbitrary pickled objects are refused"):
        weights.import_weights("arcface-r50", crafted, sha256=_sha(crafted))
    for name in ("arcface-r50", "arcface-r100"):
        assert not weights.is_imported(name) and not (home / "weights" / name).exists()


def test_import_records_the_hash_and_every_load_rechecks_it(r50_file: Path, home: Path) -> None:
    digest = _sha(r50_file)
    dest = weights.import_weights("arcface-r50", r50_file, sha256=f"SHA256:{digest.upper()}")
    assert dest == home / "weights" / "arcface-r50" / "backbone.pth"
    assert dest.read_bytes() == r50_file.read_bytes()
    record = json.loads(weights.record_path("arcface-r50").read_text())
    assert record["sha256"] == digest and record["size"] == r50_file.stat().st_size
    assert record["network"] == "arcface-r50" and record["source"] == "backbone.pth"
    assert weights.is_imported("arcface-r50") and weights.expected_sha256("arcface-r50") == digest
    assert weights.weights_path("arcface-r50") == dest

    data = bytearray(dest.read_bytes())
    data[-100] ^= 0xFF  # same size, other content
    dest.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsIntegrityError, match=f"no longer match their SHA-256 {digest}"):
        weights.weights_path("arcface-r50")
    weights.import_weights("arcface-r50", r50_file, sha256=digest)  # importing again repairs it
    assert weights.weights_path("arcface-r50") == dest

    weights.record_path("arcface-r50").write_text("{not json")
    with pytest.raises(weights.WeightsIntegrityError, match="import the weights again"):
        weights.weights_path("arcface-r50")
    weights.record_path("arcface-r50").unlink()  # a file without its record is not imported
    assert not weights.is_imported("arcface-r50")
    with pytest.raises(weights.MissingWeightsError, match="--sha256 HEX"):
        weights.weights_path("arcface-r50")


def test_pinned_weights_keep_their_own_hash(tmp_path: Path, home: Path) -> None:
    src = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    src.write_bytes(b"x")
    with pytest.raises(weights.WeightsError, match="GaFET pins it to 6726825d"):
        weights.import_weights("inception-fid", src, sha256=hashlib.sha256(b"x").hexdigest())


def test_which_network_csim_uses(r50_file: Path, home: Path) -> None:
    assert chosen_identity_net("auto") is None and chosen_identity_net("dlib") is None
    with pytest.raises(weights.MissingWeightsError) as info:
        chosen_identity_net("arcface-r100")
    assert info.value.exit_code == EXIT_ASSET
    assert "gafet assets import-weights arcface-r100 backbone.pth --sha256 HEX" in str(info.value)
    weights.import_weights("arcface-r50", r50_file, sha256=_sha(r50_file))
    assert chosen_identity_net("auto") == "arcface-r50" == chosen_identity_net("arcface-r50")
    assert chosen_identity_net("dlib") is None
    assert [w.name for w in weights.face_net_weights()] == ["curricularface", "arcface-r100", "arcface-r50"]
