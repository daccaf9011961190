"""The models folder: cheap listing that flags bad files, cached loading, editor specs and the factory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from core.editing.gafet import registry
from core.editing.gafet.editor import GafetEditor
from core.editing.gafet.registry import (
    clear_cache,
    find_checkpoint,
    inspect_checkpoint,
    list_checkpoints,
    load_editor,
    models_folder,
)
from core.editing.spec import EditorSpec, build_editor
from core.editing.warp.editor import WARP_EDITOR_NAME, WarpEditor
from core.nets.checkpoint import CheckpointCorruptError, CheckpointNotFoundError, save_checkpoint
from core.nets.config import config_from_json, config_to_json, preset
from core.nets.gafet import GaFET, build_networks


@pytest.fixture(autouse=True)
def _isolated():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="module")
def tiny_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("src")
    path = save_checkpoint(folder / "t.safetensors", build_networks(preset("tiny-64")))
    return path.read_bytes()


def with_config(src: Path, dst: Path, **changes: object) -> None:
    """Copy a checkpoint with its stored config changed (the tensors then no longer fit it)."""
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    raw = json.loads(meta["config"])
    raw.update(changes)
    meta["config"] = config_to_json(config_from_json(json.dumps(raw)))
    save_file(tensors, str(dst), metadata=meta)


@pytest.fixture
def folder(tmp_path: Path, tiny_bytes: bytes) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    (root / "b-smiles.safetensors").write_bytes(tiny_bytes)
    torch.manual_seed(1)
    save_checkpoint(root / "A-generator-only.safetensors", GaFET(config=preset("tiny-64")))
    (root / "broken.safetensors").write_bytes(b"\x00garbage" * 64)
    (root / "cut.safetensors").write_bytes(tiny_bytes[: len(tiny_bytes) // 2])
    save_file({"w": torch.zeros(2)}, str(root / "foreign.safetensors"))
    with_config(root / "b-smiles.safetensors", root / "mismatch.safetensors", global_dim=48)
    (root / "notes.txt").write_text("not a model")
    (root / ".hidden.safetensors").write_bytes(tiny_bytes)
    (root / "sub.safetensors").mkdir()
    return root


def test_listing_reads_headers_and_flags_bad_files(folder: Path, tiny_bytes: bytes) -> None:
    entries = list_checkpoints(folder)
    names = ["A-generator-only", "b-smiles", "broken", "cut", "foreign", "mismatch"]
    assert [e.name for e in entries] == names
    by = {e.name: e for e in entries}
    for name in ("A-generator-only", "b-smiles"):
        e = by[name]
        assert e.ok and e.problem is None and e.preset == "tiny-64" and e.resolution == 64
        assert e.size_bytes == (folder / f"{name}.safetensors").stat().st_size
    assert by["b-smiles"].size_bytes == len(tiny_bytes)
    assert by["b-smiles"].label == "GaFET: b-smiles (tiny-64)"
    for name, words in (("broken", "damaged"), ("cut", "damaged"), ("foreign", "not a GaFET checkpoint"),
                        ("mismatch", "needs")):
        e = by[name]
        assert not e.ok and words in e.problem and str(e.path) in e.problem, (name, e.problem)
    assert by["broken"].preset is None and by["broken"].label == "GaFET: broken"
    assert by["mismatch"].preset == "tiny-64"  # the header reads; its tensors do not fit it


def test_listing_without_a_folder_and_the_default_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         tiny_bytes: bytes) -> None:
    assert list_checkpoints(tmp_path / "absent") == []
    monkeypatch.setenv("GAFET_HOME", str(tmp_path / "home"))
    assert models_folder() == tmp_path / "home" / "models"
    assert list_checkpoints() == []
    models_folder().mkdir(parents=True)
    (models_folder() / "m.safetensors").write_bytes(tiny_bytes)
    assert [e.name for e in list_checkpoints()] == ["m"]


def test_listing_loads_no_weights(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("listing must not load weights")

    monkeypatch.setattr(registry.GafetEditor, "from_checkpoint", boom)
    monkeypatch.setattr("core.nets.checkpoint.load_checkpoint", boom)
    assert len(list_checkpoints(folder)) == 6


def test_listing_notices_a_changed_file(folder: Path, tiny_bytes: bytes) -> None:
    target = folder / "broken.safetensors"
    assert not {e.name: e for e in list_checkpoints(folder)}["broken"].ok
    target.write_bytes(tiny_bytes)
    os.utime(target, ns=(1, 1_000_000_000))
    assert {e.name: e for e in list_checkpoints(folder)}["broken"].ok


def test_load_editor_caches(folder: Path, tmp_path: Path) -> None:
    path = folder / "b-smiles.safetensors"
    editor = load_editor(path)
    assert isinstance(editor, GafetEditor) and editor.name == "GaFET: b-smiles (tiny-64)"
    assert load_editor(path) is editor
    link = tmp_path / "link.safetensors"
    link.symlink_to(path)
    assert load_editor(link) is editor  # keyed by the resolved path
    assert load_editor(str(path), device="cpu") is editor
    other = load_editor(folder / "A-generator-only.safetensors")
    assert other is not editor and load_editor(path) is editor
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the file was replaced
    fresh = load_editor(path)
    assert fresh is not editor and load_editor(path) is fresh
    clear_cache()
    assert load_editor(path) is not fresh


def test_load_editor_errors(folder: Path, tiny_bytes: bytes) -> None:
    with pytest.raises(CheckpointNotFoundError):
        load_editor(folder / "absent.safetensors")
    with pytest.raises(CheckpointCorruptError):
        load_editor(folder / "cut.safetensors")
    damaged = folder / "flipped.safetensors"
    data = bytearray(tiny_bytes)
    data[-100] ^= 0xFF  # header intact: the listing cannot tell, loading does
    damaged.write_bytes(bytes(data))
    assert {e.name: e for e in list_checkpoints(folder)}["flipped"].ok
    with pytest.raises(CheckpointCorruptError, match="damaged"):
        load_editor(damaged)


def test_entries_name_their_editor_and_the_factory_builds_it(folder: Path) -> None:
    assert WARP_EDITOR_NAME == "Warp (built-in)"
    assert isinstance(build_editor(EditorSpec.warp()), WarpEditor)
    entries = {e.name: e for e in list_checkpoints(folder)}
    good = entries["b-smiles"]
    assert good.ok and good.spec == EditorSpec.gafet(folder / "b-smiles.safetensors")
    editor = build_editor(good.spec.on("cpu"))
    assert editor is load_editor(good.path, device="cpu") and editor.name == good.label
    assert good.label == "GaFET: b-smiles (tiny-64)"
    bad = entries["broken"]
    assert not bad.ok and "damaged" in bad.problem
    with pytest.raises(CheckpointCorruptError):
        build_editor(bad.spec.on("cpu"))


def test_inspect_checkpoint_is_the_listing_check(folder: Path, tmp_path: Path) -> None:
    for entry in list_checkpoints(folder):
        assert inspect_checkpoint(entry.path) == entry
    missing = inspect_checkpoint(tmp_path / "gone.safetensors")
    assert not missing.ok and "does not exist" in missing.problem


def test_find_checkpoint(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = folder / "b-smiles.safetensors"
    assert find_checkpoint(path) == path and find_checkpoint(str(path)) == path
    assert find_checkpoint("b-smiles", folder=folder) == path
    assert find_checkpoint("b-smiles.safetensors", folder=folder) == path
    monkeypatch.setenv("GAFET_HOME", str(folder.parent))
    assert find_checkpoint("b-smiles") == path  # <data home>/models
    with pytest.raises(CheckpointNotFoundError, match="Available: A-generator-only, b-smiles") as err:
        find_checkpoint("frowns")
    assert err.value.exit_code == 5
    with pytest.raises(CheckpointNotFoundError, match="holds no checkpoints"):
        find_checkpoint("frowns", folder=tmp_path / "empty")
