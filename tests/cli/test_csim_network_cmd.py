"""``gafet assets import-weights curricularface FILE --sha256 HEX`` and ``gafet evaluate`` with the
imported network: CSIM computed with it and named after it, ACD and the identity distance still
dlib's. A random-init IR-101 stands in for CurricularFace_Backbone.pth (no such file ships)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from core.judges.iresnet import FACE_NETS
from core.metrics import weights
from gafet_studio.cli.main import main


@pytest.fixture(scope="module")
def ir101_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A random-init IR-101 state dict in CurricularFace's layout (float32, as released), and its SHA-256."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("curricularface") / "CurricularFace_Backbone.pth"
    torch.save(FACE_NETS["curricularface"].build().state_dict(), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def weights_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    monkeypatch.setattr(weights, "weights_dir", lambda home=None: folder)
    return folder


def test_import_weights_cli(ir101_file: tuple[Path, str], weights_home: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    path, digest = ir101_file
    assert main(["assets", "import-weights", "curricularface", str(path)]) == 1
    err = capsys.readouterr().err
    assert "needs --sha256 HEX" in err and "sha256sum CurricularFace_Backbone.pth" in err
    assert "github.com/HuangYG123/CurricularFace" in err

    assert main(["assets", "import-weights", "curricularface", str(path), "--sha256", "f" * 64]) == 5
    err = capsys.readouterr().err
    assert f"its SHA-256 is {digest}, given with --sha256 {'f' * 64}" in err and "Nothing was imported" in err
    assert not weights.is_imported("curricularface")

    assert main(["assets", "import-weights", "arcface-r100", str(path), "--sha256", digest]) == 5
    assert "is not ArcFace IResNet-100 weights" in capsys.readouterr().err  # right hash, wrong network

    assert main(["assets", "import-weights", "curricularface", str(path), "--sha256", digest]) == 0
    out = capsys.readouterr().out
    installed = weights_home / "curricularface" / "CurricularFace_Backbone.pth"
    assert f"imported curricularface -> {installed}" in out
    assert f"SHA-256 {digest} recorded" in out
    assert weights.weights_path("curricularface").read_bytes() == path.read_bytes()


def test_evaluate_uses_and_names_the_imported_network(ir101_file: tuple[Path, str], weights_home: Path,
                                                      tmp_path: Path, media, app_assets: None,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, digest = ir101_file
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"source,reference\n{media.path('single_face.jpg')},{media.path('happy.jpg')}\n")
    base = ["evaluate", "--pairs", str(pairs), "--editor", "identity", "--editor", "mouth-paste",
            "--cache", str(tmp_path / "cache")]

    assert main([*base, "--identity-net", "curricularface"]) == 5  # asked for, not imported
    assert "gafet assets import-weights curricularface CurricularFace_Backbone.pth --sha256 HEX" in \
        capsys.readouterr().err

    assert main(["assets", "import-weights", "curricularface", str(path), "--sha256", digest]) == 0
    capsys.readouterr()
    net_json, dlib_json = tmp_path / "net.json", tmp_path / "dlib.json"
    assert main([*base, "--json", str(net_json)]) == 0  # auto: the imported network
    out = capsys.readouterr().out
    assert "CSIM (CurricularFace) ↑" in out and "ACD ↓" in out
    assert f"CSIM: CurricularFace IR-101, 512-d (imported; SHA-256 {digest[:16]}…)" in out
    assert main([*base, "--identity-net", "dlib", "--json", str(dlib_json)]) == 0
    out = capsys.readouterr().out
    assert "CSIM ↑" in out and "CurricularFace" not in out  # without the network: as before

    net, dlib = json.loads(net_json.read_text()), json.loads(dlib_json.read_text())
    assert net["judges"]["csim"].startswith("CurricularFace IR-101, 512-d (imported; SHA-256 ")
    assert net["metric_labels"]["csim"] == "CSIM (CurricularFace)"
    assert dlib["judges"]["csim"] == dlib["judges"]["identity"] == net["judges"]["identity"]
    assert dlib["metric_labels"]["csim"] == "CSIM"
    rows = {(r["editor"], name): r for name, data in (("net", net), ("dlib", dlib)) for r in data["pairs"]}
    for name in ("net", "dlib"):
        ident = rows[("identity", name)]
        assert ident["csim"] == pytest.approx(1.0)
        assert ident["acd"] == 0.0 and ident["identity_distance"] == 0.0
    paste_net, paste_dlib = rows[("mouth-paste", "net")], rows[("mouth-paste", "dlib")]
    assert paste_net["acd"] == pytest.approx(paste_dlib["acd"], abs=1e-9)  # ACD: dlib's in both
    assert paste_net["identity_distance"] == pytest.approx(paste_dlib["identity_distance"], abs=1e-9)
    assert abs(paste_net["csim"] - paste_dlib["csim"]) > 1e-4  # CSIM: another network's cosine
