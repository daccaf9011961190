"""Importing the user's FLAME files: licence, validation, safe conversion, loading (the
``gafet assets import-flame`` command is tested in ``tests/cli/test_import_flame_cmd.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.assets import AssetIntegrityError
from core.geometry.flame.assets import FlameAssets, FlameFormatError, LandmarkEmbedding
from core.geometry.flame.importer import (
    FLAME_LICENCE_NOTICE,
    FlameLicenceNotAcceptedError,
    FlameNotImportedError,
    import_flame,
    load_flame,
)
from core.geometry.flame.model import FlameConfig
from tests.helpers import flame_synthetic as fs


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with fs.one_torch_thread():
        yield


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fs.isolated_home(tmp_path, monkeypatch)


# ---------------------------------------------------------------------------------------------
# The core functions


def test_load_flame_says_how_to_import(home: Path) -> None:
    with pytest.raises(FlameNotImportedError, match=r"gafet assets import-flame .*flame\.is\.tue\.mpg\.de|"
                                                    r"flame\.is\.tue\.mpg\.de.*gafet assets import-flame"):
        load_flame()


def test_import_requires_acceptance(home: Path) -> None:
    with pytest.raises(FlameLicenceNotAcceptedError):
        import_flame(fs.synthetic_files().model, accept_licence=False)
    assert "non-commercial" in FLAME_LICENCE_NOTICE.lower()


def test_tampered_import_is_detected(home: Path) -> None:
    r = import_flame(fs.synthetic_files().model, accept_licence=True)
    data = bytearray(r.model_path.read_bytes())
    data[-1] ^= 0xFF
    r.model_path.write_bytes(bytes(data))
    with pytest.raises(AssetIntegrityError, match="import FLAME again"):
        load_flame()


def test_tf_flame_embeddings_merge_and_reimport_keeps_them(home: Path) -> None:
    files = fs.synthetic_files()
    import_flame(files.model, embeddings=(files.static_embedding, files.dynamic_embedding),
                 accept_licence=True)
    model = load_flame(config=FlameConfig(n_shape=10, n_expression=10))
    assert set(model.landmark_sets) == {"static51", "68"}  # 68 = zero-yaw contour + static 51
    lmk = model.landmarks(model.v_template[None], "68")[0].numpy()
    emb = fs.synthetic_flame().embedding
    tri = fs.synthetic_flame().arrays["f"][emb["full_lmk_faces_idx"]].astype(np.int64)
    want = (model.v_template.numpy()[tri] * emb["full_lmk_bary_coords"][..., None]).sum(1)
    np.testing.assert_allclose(lmk, want, atol=1e-6)

    import_flame(files.model, accept_licence=True)  # model again, no embedding given
    assert "68" in load_flame(config=FlameConfig(n_shape=10, n_expression=10)).landmark_sets


def test_load_flame_from_an_explicit_path(home: Path, tmp_path: Path) -> None:
    r = import_flame(fs.synthetic_files().model, accept_licence=True)
    model = load_flame(r.model_path, config=FlameConfig(n_shape=5, n_expression=5))
    assert model.shapedirs.shape == (5023, 3, 10) and model.landmark_sets == ()
    with pytest.raises(FlameNotImportedError):
        load_flame(tmp_path / "nowhere" / "flame_model.safetensors")


# ---------------------------------------------------------------------------------------------
# Validation of keys and shapes (no pickle needed)


def _arrays() -> dict:
    return dict(fs.synthetic_flame().arrays)


@pytest.mark.parametrize("key, value, message", [
    ("posedirs", np.zeros((5023, 3, 20)),
     r"'posedirs' has shape \(5023, 3, 20\); a FLAME model needs \(5023, 3, 36\)"),
    ("f", np.zeros((9975, 3), np.uint32), r"'f' has shape \(9975, 3\)"),
    ("v_template", np.zeros((5000, 3)), r"'v_template' has shape \(5000, 3\)"),
    ("shapedirs", np.zeros((5023, 3, 300)), r"'shapedirs' has shape \(5023, 3, 300\).*K > 300"),
    ("J_regressor", np.zeros((4, 5023)), r"'J_regressor' has shape \(4, 5023\)"),
    ("weights", "lbs", r"'weights' is a str, not a numeric array"),
    ("kintree_table", np.array([[4294967295, 0, 1, 3, 1], [0, 1, 2, 3, 4]]), r"kinematic tree"),
])
def test_bad_arrays_are_named(key: str, value: object, message: str) -> None:
    arrays = _arrays()
    arrays[key] = value
    with pytest.raises(FlameFormatError, match=message):
        FlameAssets.from_flame_dict(arrays, source="generic_model.pkl")


def test_non_finite_values_are_refused() -> None:
    arrays = _arrays()
    arrays["weights"] = arrays["weights"].copy()
    arrays["weights"][3, 0] = np.nan
    with pytest.raises(FlameFormatError, match="'weights' has NaN"):
        FlameAssets.from_flame_dict(arrays, source="m.pkl")


def test_unknown_embedding_layout_is_named() -> None:
    with pytest.raises(FlameFormatError, match="not a FLAME landmark embedding"):
        LandmarkEmbedding.from_dict({"foo": np.zeros(3)}, source="x.npy")
    with pytest.raises(FlameFormatError, match="expected 51"):
        LandmarkEmbedding.from_dict({"lmk_face_idx": np.zeros(40, np.int64),
                                     "lmk_b_coords": np.zeros((40, 3))}, source="x.pkl")
