"""``gafet assets import-flame``: the licence notice and prompt, the receipt, refusals."""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from core.assets import sha256_file
from core.geometry.face_model import Pose
from core.geometry.flame.importer import flame_dir, load_flame
from core.geometry.flame.model import FlameConfig
from gafet_studio.cli.main import main
from tests.helpers import flame_synthetic as fs


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with fs.one_torch_thread():
        yield


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fs.isolated_home(tmp_path, monkeypatch)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_import_round_trip_with_accept_flag(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = fs.synthetic_files()
    rc = main(["assets", "import-flame", str(files.model), "--embedding", str(files.deca_embedding),
               "--accept-licence"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "NON-COMMERCIAL SCIENTIFIC RESEARCH" in err  # the notice is shown even with the flag
    folder = home / "licensed" / "flame"
    assert _files_in(folder) == ["RECEIPT.json", "flame_landmarks.safetensors", "flame_model.safetensors"]
    assert str(folder / "flame_model.safetensors") in out

    receipt = json.loads((folder / "RECEIPT.json").read_text())
    assert receipt["model"]["source_sha256"] == sha256_file(files.model)
    assert receipt["model"]["sha256"] == sha256_file(folder / "flame_model.safetensors")
    assert receipt["embedding"]["sha256"] == sha256_file(folder / "flame_landmarks.safetensors")
    assert b"pickle" not in (folder / "flame_model.safetensors").read_bytes()[:4096].lower()

    model = load_flame(config=FlameConfig(n_shape=300, n_expression=100))
    want = fs.synthetic_flame().arrays
    np.testing.assert_allclose(model.v_template.numpy(), want["v_template"], rtol=1e-6)
    np.testing.assert_allclose(model.shapedirs.numpy(), want["shapedirs"], rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(model.faces.numpy(), want["f"].astype(np.int64))
    np.testing.assert_allclose(model.j_regressor.numpy(), want["J_regressor"], rtol=1e-6)
    assert model.parents.tolist() == [-1, 0, 1, 1, 1]
    assert set(model.landmark_sets) >= {"68", "static51", "full68"} and hasattr(model, "contour_faces")
    unit = Pose(scale=torch.ones(1), rotation=torch.eye(3)[None], translation=torch.zeros(1, 3))
    verts = model.vertices(torch.zeros(1, 300), torch.zeros(1, 103), unit)
    torch.testing.assert_close(verts[0], model.v_template)
    assert model.landmarks(verts).shape == (1, 68, 3)


def test_refused_without_acceptance(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["assets", "import-flame", str(fs.synthetic_files().model)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "licence was not accepted" in err and "--accept-licence" in err
    assert _files_in(home) == []


@pytest.mark.parametrize("answer, ok", [("yes\n", True), ("no\n", False)])
def test_interactive_prompt(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                            answer: str, ok: bool) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    rc = main(["assets", "import-flame", str(fs.synthetic_files().model)])
    assert (rc == 0) is ok, capsys.readouterr().err
    assert (flame_dir() / "flame_model.safetensors").is_file() is ok


def test_malicious_model_is_refused_and_nothing_is_written(home: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "generic_model.pkl"
    bad.write_bytes(pickle.dumps({"f": Evil()}, protocol=2))
    rc = main(["assets", "import-flame", str(bad), "--accept-licence"])
    assert rc == 1 and "Refused to load generic_model.pkl" in capsys.readouterr().err
    assert not marker.exists() and _files_in(home / "licensed") == []


def test_missing_key_is_named(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "generic_model.pkl"
    fs.write_flame_pickle(path, drop=("shapedirs",))
    rc = main(["assets", "import-flame", str(path), "--accept-licence"])
    err = capsys.readouterr().err
    assert rc == 1 and "generic_model.pkl is not a FLAME model: it has no key 'shapedirs'" in err
