"""Assets are checked before use: pinned SHA-256 on first load (digest remembered by size and
modification time), damaged files become project errors (exit 5, naming the fix), ``verify`` fails
when nothing is installed, a bad cached archive is deleted, and a fetch cut between its renames
leaves the old asset. Uses a small fake asset (no network)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core import assets
from core.errors import EXIT_ASSET
from core.io import atomic
from gafet_studio.cli.main import main

FILES = {
    "net.npz": None,  # filled below: a real .npz
    "meta.json": json.dumps({"triangles": [[0, 1, 2]]}).encode(),
    "blob.pkl": pickle.dumps({"a": 1}),
}


def _npz() -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, coef=np.arange(1000, dtype=np.float32))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def install_fake_asset(home: Path, monkeypatch: pytest.MonkeyPatch, asset_id: str,
                       files: dict[str, bytes]) -> Path:
    """Install ``files`` as the asset ``asset_id`` (from a local wheel, pinned to their own
    SHA-256) in the data home ``home``, with a manifest that holds only it; returns its folder."""
    monkeypatch.setenv("GAFET_HOME", str(home))
    (home / "archives").mkdir(parents=True, exist_ok=True)
    wheel = home / "archives" / f"{asset_id.replace('-', '_')}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"pkg/{name}", data)
    members = "\n".join(f'"{n}" = {{ path = "pkg/{n}", sha256 = "{_sha(d)}" }}' for n, d in files.items())
    manifest = assets.parse_manifest(f"""
[archives."{asset_id}-1.0"]
package = "{asset_id}"
version = "1.0"
filename = "{wheel.name}"
sha256 = "{_sha(wheel.read_bytes())}"

[assets.{asset_id}]
description = "a test asset"
archive = "{asset_id}-1.0"
group = "app"
licence = "test"
[assets.{asset_id}.members]
{members}
""")
    monkeypatch.setattr(assets, "load_manifest", lambda: manifest)
    monkeypatch.setattr(assets, "_checked", {})  # a fresh process's view
    (folder,) = assets.fetch([asset_id])
    return folder


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake asset 'tiny' (three members in a local wheel), installed in a fresh data home."""
    home = tmp_path / "home"
    install_fake_asset(home, monkeypatch, "tiny", dict(FILES, **{"net.npz": _npz()}))
    return home


def _tamper(path: Path, *, keep_time: bool = False) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    t = st.st_mtime_ns if keep_time else st.st_mtime_ns + 2_000_000_000
    os.utime(path, ns=(t, t))


def test_first_load_checks_the_pinned_hash(fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = assets.asset_path("tiny", "net.npz")
    assert p.is_file()
    _tamper(p)
    with pytest.raises(assets.AssetIntegrityError) as err:
        assets.asset_path("tiny", "net.npz")
    assert err.value.exit_code == EXIT_ASSET == 5
    assert "gafet assets fetch --force tiny" in str(err.value) and str(p) in str(err.value)
    assert main(["assets", "path", "tiny", "net.npz"]) == EXIT_ASSET
    assert "fetch --force tiny" in capsys.readouterr().err
    assets.fetch(["tiny"], force=True)  # the named fix works
    assert assets.asset_path("tiny", "net.npz") == p


def test_the_digest_is_remembered_by_size_and_time(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[Path] = []
    real = assets.sha256_file
    monkeypatch.setattr(assets, "sha256_file", lambda path: hashed.append(Path(path)) or real(path))
    assets.asset_path("tiny", "meta.json")
    assert hashed == [], "the fetch recorded the digests it had just checked"
    p = assets.asset_path("tiny", "blob.pkl")
    t = p.stat().st_mtime_ns + 5_000_000_000
    os.utime(p, ns=(t, t))  # same bytes, new time: hashed once, in this process and the next
    monkeypatch.setattr(assets, "_checked", {})
    assets.asset_path("tiny", "blob.pkl")
    assets.asset_path("tiny", "blob.pkl")
    monkeypatch.setattr(assets, "_checked", {})  # "another process"
    assets.asset_path("tiny", "blob.pkl")
    assert hashed == [p]


@pytest.mark.parametrize("junk", [b"", b"\xff\xfe not json", b"[" * 100_000, b'{"members": [1, 2]}',
                                  b'{"members": {"net.npz": {"size": "x"}}}'])
def test_a_damaged_digest_cache_only_costs_a_hash(fake: Path, junk: bytes,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (fake / "assets" / "tiny" / assets.DIGEST_CACHE).write_bytes(junk)
    monkeypatch.setattr(assets, "_checked", {})
    assert assets.asset_path("tiny", "net.npz").is_file()
    cached = json.loads((fake / "assets" / "tiny" / assets.DIGEST_CACHE).read_text())
    assert cached["members"]["net.npz"]["sha256"] == _sha(_npz())


def _bad_tflite(path: Path) -> object:
    from core.face.tflite.graph import load_tflite_graph

    return load_tflite_graph(path)


@pytest.mark.parametrize("member, loader, raw_error", [
    ("net.npz", lambda p: np.load(p, allow_pickle=False)["coef"], "BadZipFile"),
    ("meta.json", lambda p: json.loads(p.read_text("utf-8")), "JSONDecodeError"),
    ("blob.pkl", lambda p: pickle.loads(p.read_bytes()), "UnpicklingError"),
    ("blob.pkl", _bad_tflite, "TfliteFormatError"),
])
def test_structural_damage_is_a_project_error(fake: Path, member: str, loader, raw_error: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    p = assets.asset_path("tiny", member)
    p.write_bytes(b"PK\x03\x04 garbage" if member == "net.npz" else b"\x80\x05garbage{")
    st = p.stat()
    # the hash check is fooled (a change that kept size and time)
    monkeypatch.setattr(assets, "_checked", {str(p): (st.st_size, st.st_mtime_ns)})
    with pytest.raises(Exception) as raw:
        loader(p)
    assert type(raw.value).__name__ in (raw_error, "UnicodeDecodeError", "ValueError"), raw.value
    with pytest.raises(assets.AssetIntegrityError) as err:
        assets.load_asset("tiny", member, loader)
    assert err.value.exit_code == 5 and "gafet assets fetch --force tiny" in str(err.value)


def test_verify_fails_when_nothing_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GAFET_HOME", str(tmp_path / "empty"))
    assert main(["assets", "verify"]) == EXIT_ASSET
    assert "no asset is installed" in capsys.readouterr().err
    assert main(["assets", "verify", "face-mesh"]) == EXIT_ASSET


def test_verify_passes_and_fails(fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assets", "verify"]) == 0
    assert "tiny: ok" in capsys.readouterr().out
    _tamper(fake / "assets" / "tiny" / "meta.json", keep_time=True)  # verify always re-hashes
    assert main(["assets", "verify", "tiny"]) == EXIT_ASSET
    assert "meta.json: SHA-256" in capsys.readouterr().out


def test_offline_fetch_deletes_a_bad_cached_archive(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (archive,) = (fake / "archives").glob("tiny-*.whl")
    archive.write_bytes(archive.read_bytes()[:-10] + b"tampered!!")

    def offline(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version (no network)")

    monkeypatch.setattr(assets.subprocess, "run", offline)
    with pytest.raises(assets.AssetFetchError) as err:
        assets.fetch(["tiny"], force=True)
    msg = str(err.value)
    assert "was damaged" in msg and "has been deleted" in msg and "gafet assets import" in msg
    assert not archive.exists()
    assert assets.is_installed("tiny"), "the installed asset is untouched"
    assert not [p for p in (fake / "archives").iterdir() if p.name.startswith(".")], "scratch folder left"


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(proc.stdout)


def test_a_fetch_cut_between_its_renames_leaves_the_old_asset(fake: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the OS cannot exchange two names, the old folder is renamed aside first; a process
    killed right then leaves it as .tiny.<pid>-old.part, which the next use puts back."""
    folder = fake / "assets" / "tiny"
    aside = folder.with_name(f".tiny.{_dead_pid()}-{atomic.OLD_TAG}.part")
    os.rename(folder, aside)  # exactly the state the kill leaves
    stale = folder.with_name(f".tiny.{_dead_pid()}-abcd1234.part")
    stale.mkdir()
    (stale / "net.npz").write_bytes(b"half")
    assert assets.asset_path("tiny", "net.npz").is_file()
    assert assets.verify("tiny").ok and not aside.exists()
    assets.fetch(["tiny"], force=True)  # the next fetch sweeps the killed one's scratch folder
    assert sorted(p.name for p in folder.parent.iterdir()) == ["tiny"]


def test_fallback_swap_failure_puts_the_old_folder_back(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    real = os.replace
    calls = {"n": 0}

    def fail_second(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", fail_second)
    with pytest.raises(OSError):
        assets.fetch(["tiny"], force=True)
    monkeypatch.setattr(atomic.os, "replace", real)
    assert assets.verify("tiny").ok
    assert sorted(p.name for p in (fake / "assets").iterdir()) == ["tiny"]


# ---------------------------------------------------------------------------------------------
# The built-in AU face model's files: damage the hash check cannot see is still an asset error


def _au_npz(**override: np.ndarray) -> bytes:
    import io

    from core.geometry.au.model_data import NUM_AUS, NUM_POINTS_NPZ

    n3 = 3 * NUM_POINTS_NPZ
    arrays = {"coef": np.zeros((NUM_AUS + 3, n3), np.float32), "intercept": np.zeros(n3, np.float32),
              "au_columns": np.array([f"AU{i:02d}" for i in range(NUM_AUS)])}
    arrays.update(override)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _au_tensor(shape: tuple[int, ...]) -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(torch.zeros(shape), buf)
    return buf.getvalue()


_AU_GOOD = {"au_to_mesh_pls_v4.npz": _au_npz, "canonical_face_tessellation.json":
            lambda: json.dumps({"triangles": [[0, 1, 2], [1, 2, 3]]}).encode(),
            "canonical_face_model.pt": lambda: _au_tensor((468, 3))}
_AU_DAMAGE = {  # member -> a damaged copy, pinned to its own hash: only the loader can tell
    "truncated-npz": ("au_to_mesh_pls_v4.npz", lambda: _au_npz()[:5000]),
    "garbled-npz": ("au_to_mesh_pls_v4.npz", lambda: b"PK\x03\x04" + bytes(range(256)) * 40),
    "npz-wrong-shape": ("au_to_mesh_pls_v4.npz", lambda: _au_npz(coef=np.zeros((23, 10), np.float32))),
    "npz-pickled-names": ("au_to_mesh_pls_v4.npz", lambda: _au_npz(au_columns=np.array([object()] * 20))),
    "truncated-json": ("canonical_face_tessellation.json", lambda: b'{"triangles": [[0, 1, 2], [1, '),
    "latin1-json": ("canonical_face_tessellation.json", lambda: '{"triangles": "\xe9"}'.encode("latin-1")),
    "deep-json": ("canonical_face_tessellation.json", lambda: b"[" * 100_000 + b"]" * 100_000),
    "json-not-triangles": ("canonical_face_tessellation.json", lambda: b'{"triangles": [[0, 1], [2]]}'),
    "json-vertex-out-of-range": ("canonical_face_tessellation.json", lambda: b'{"triangles": [[0, 1, 999]]}'),
    "truncated-pt": ("canonical_face_model.pt", lambda: _au_tensor((468, 3))[:300]),
    "pt-wrong-shape": ("canonical_face_model.pt", lambda: _au_tensor((10, 3))),
}


@pytest.mark.parametrize("case", list(_AU_DAMAGE))
def test_damaged_au_model_data_is_an_asset_error(case: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from core.geometry.au import model_data

    member, damaged = _AU_DAMAGE[case]
    files = {name: make() for name, make in _AU_GOOD.items()}
    files[member] = damaged()
    folder = install_fake_asset(tmp_path / "home", monkeypatch, model_data.ASSET_ID, files)
    loader = {"au_to_mesh_pls_v4.npz": model_data._load_npz,
              "canonical_face_tessellation.json": model_data._load_faces,
              "canonical_face_model.pt": model_data._load_canonical}
    for name, load in loader.items():
        if name != member:
            load()  # the undamaged files load (the fake asset is well formed)
    with pytest.raises(assets.AssetIntegrityError) as err:
        loader[member]()
    msg = str(err.value)
    assert err.value.exit_code == EXIT_ASSET == 5
    assert "gafet assets fetch --force au-face-model" in msg and str(folder / member) in msg
    if member == "au_to_mesh_pls_v4.npz":  # and the public entry point (uncached) says the same
        with pytest.raises(assets.AssetIntegrityError, match="fetch --force au-face-model"):
            model_data.load_au_model_data.__wrapped__(model_data.AUModelConfig())
