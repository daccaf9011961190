"""Malicious files through every path that loads a user file: each is refused with a project error,
quickly (CPU time well under 2 s, and no network is ever built), and nothing in it ever runs.

The pickles here write a marker file when unpickled by a loader that runs code, so a test fails if
any path executes them. The bombs are GaFET checkpoints whose metadata asks for absurd sizes (the
audit's ``mfat.depth = 1000000``, and its cousins), checked through ``gafet model info``,
``gafet edit --model``, the models-folder listing the Studio runs at start-up and resuming training.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from core import assets
from core.editing.gafet import registry
from core.errors import EXIT_ASSET, EXIT_ERROR, GafetError
from core.nets import checkpoint as ckpt_mod
from core.nets.checkpoint import CheckpointError, load_checkpoint, read_header, save_checkpoint
from core.nets.config import config_to_dict, preset
from core.nets.gafet import build_networks
from gafet_studio.cli.main import main

CPU_LIMIT_S = 2.0  # the limit for a refusal (CPU time: immune to a busy machine)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


class _Evil:
    """Unpickling this runs ``exec``, which creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _refused(fn: Callable[[], object], *, error: type[BaseException] = GafetError) -> BaseException:
    """Run ``fn``, expect ``error``, within the CPU-time limit; return the error."""
    start = time.process_time()
    with pytest.raises(error) as info:
        fn()
    spent = time.process_time() - start
    assert spent < CPU_LIMIT_S, f"refusal took {spent:.2f} s of CPU"
    return info.value


# ---------------------------------------------------------------------------------------------
# Pickles


@pytest.fixture()
def marker(tmp_path: Path) -> Iterator[Path]:
    m = tmp_path / "PWNED"
    yield m
    assert not m.exists(), "a malicious pickle ran code"


@pytest.fixture()
def pickles(tmp_path: Path, marker: Path) -> dict[str, Path]:
    """The same payload as a plain pickle (protocols 2 and 4), a torch zip file and a numpy .npy."""
    out = tmp_path / "evil"
    out.mkdir()
    files = {}
    for proto in (2, 4):
        f = out / f"evil_p{proto}.pkl"
        f.write_bytes(pickle.dumps({"v_template": _Evil(marker)}, protocol=proto))
        files[f"pickle{proto}"] = f
    f = out / "evil.pth"
    torch.save({"weight": _Evil(marker)}, f)
    files["torch"] = f
    f = out / "evil.npy"
    buf = io.BytesIO()
    import numpy as np

    np.save(buf, np.array([_Evil(marker)], dtype=object), allow_pickle=True)
    f.write_bytes(buf.getvalue())
    files["npy"] = f
    assert not marker.exists()
    return files


@pytest.mark.parametrize("kind", ["pickle2", "pickle4", "torch", "npy"])
def test_pickles_never_run_as_checkpoints(kind: str, pickles: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from training.state import load_state

    ck = tmp_path / "models" / "evil.safetensors"
    ck.parent.mkdir()
    ck.write_bytes(pickles[kind].read_bytes())
    _refused(lambda: read_header(ck), error=CheckpointError)
    _refused(lambda: load_checkpoint(ck), error=CheckpointError)
    _refused(lambda: load_state(ck), error=CheckpointError)
    registry.clear_cache()
    (entry,) = registry.list_checkpoints(ck.parent)
    assert not entry.ok and "damaged or incomplete" in (entry.problem or "")
    assert main(["model", "info", str(ck)]) == EXIT_ASSET
    assert "damaged or incomplete" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["pickle2", "pickle4", "torch"])
def test_pickles_never_run_as_flame_models(kind: str, pickles: dict[str, Path], tmp_path: Path) -> None:
    from core.geometry.flame.importer import import_flame

    err = _refused(lambda: import_flame(pickles[kind], accept_licence=True, home=tmp_path / "home"))
    assert pickles[kind].name in str(err) or "pickle" in str(err).lower()
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.safetensors"))


@pytest.mark.parametrize("kind", ["pickle4", "torch"])
@pytest.mark.parametrize("name", ["curricularface", "arcface-r50"])
def test_pickles_never_run_as_imported_weights(kind: str, name: str, pickles: dict[str, Path],
                                               tmp_path: Path) -> None:
    from core.metrics import weights

    f = pickles[kind]
    sha = hashlib.sha256(f.read_bytes()).hexdigest()  # the user vouches for the file: it is still not run
    _refused(lambda: weights.import_weights(name, f, home=tmp_path / "home", sha256=sha))
    assert not weights.installed_path(name, tmp_path / "home").exists()


@pytest.mark.parametrize("name", ["inception-fid", "lpips-alexnet", "vgg16"])
def test_pickles_never_run_as_pinned_weights(name: str, pickles: dict[str, Path], tmp_path: Path) -> None:
    from core.metrics import weights

    _refused(lambda: weights.import_weights(name, pickles["torch"], home=tmp_path / "home"))


# ---------------------------------------------------------------------------------------------
# Bombs: configs that ask for absurd networks


def _rewrite(src: Path, dst: Path, *, config: dict | None = None,
             metadata: dict[str, str] | None = None) -> Path:
    """``src`` with its stored config (and other metadata) replaced; the tensors stay as they are."""
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    if config is not None:
        meta["config"] = json.dumps(config)
    meta.update(metadata or {})
    save_file(tensors, str(dst), metadata=meta)
    return dst


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    return save_checkpoint(path, build_networks(preset("tiny-64")).generator)


def _bomb(**changes: object) -> dict:
    cfg = config_to_dict(preset("tiny-64"))
    for key, value in changes.items():
        if "__" in key:
            section, field = key.split("__")
            cfg[section][field] = value
        else:
            cfg[key] = value
    return cfg


BOMBS = {
    "depth": _bomb(mfat__depth=1_000_000),  # the audit's file
    "depth-under-int-limit": _bomb(mfat__depth=17),
    "heads": _bomb(mfat__heads=1 << 20),
    "dim": _bomb(mfat__dim=1 << 24, mfat__heads=1),
    "ffn": _bomb(mfat__ffn_ratio=1 << 30),
    "mfat-levels": _bomb(mfat__levels=1_000_000),
    "widths": _bomb(appearance_channels=[1 << 30] * 5),
    "scales": _bomb(appearance_channels=[8] * 100_000, geometry_feature_channels=[8] * 100_000,
                    reference_channels=[8] * 100_000),
    "resolution": _bomb(resolution=1 << 30),
    "global-dim": _bomb(global_dim=1 << 40),
    "geometry-channels": _bomb(geometry_channels=1 << 20),
    "disc-width": _bomb(discriminator__max_channels=1 << 30, discriminator__base_channels=1 << 30),
    "patch": _bomb(discriminator__component_patch=1 << 30),
    "mbstd": _bomb(discriminator__mbstd_group=1 << 30),
    # every single value within its bound, the whole over a ceiling: attention at 2048 x 2048 tokens
    "flops": _bomb(resolution=2048, appearance_channels=[8] * 10, geometry_feature_channels=[4] * 10,
                   reference_channels=[4] * 10, mfat__levels=10, mfat__dim=4, mfat__heads=1),
    "layers": _bomb(mfat__depth=16, mfat__levels=3),
    "params": _bomb(resolution=2048, appearance_channels=[4096] * 10, geometry_feature_channels=[8] * 10,
                    reference_channels=[8] * 10),
}


@pytest.fixture()
def no_building(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if anything builds a network: a refusal must come from the numbers alone."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network was built for a config that should have been refused")

    import core.nets.gafet as gafet_mod
    import core.nets.stats as stats_mod

    # gafet model imports build_networks from core.nets.gafet when an action runs (lazily): patched there
    for module in (ckpt_mod, gafet_mod, stats_mod):
        monkeypatch.setattr(module, "build_networks", refuse)


@pytest.mark.parametrize("name", list(BOMBS))
def test_config_bombs_are_refused_before_anything_is_built(name: str, tiny_generator: Path, tmp_path: Path,
                                                           no_building: None,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    bomb = _rewrite(tiny_generator, models / f"{name}.safetensors", config=BOMBS[name])
    err = _refused(lambda: read_header(bomb), error=ckpt_mod.CheckpointConfigError)
    msg = str(err)
    assert str(bomb) in msg and ("limit" in msg or "ceiling" in msg)
    assert "M parameters" in msg and "GFLOPs" in msg, "the error states the ceilings"

    registry.clear_cache()
    start = time.process_time()
    (entry,) = registry.list_checkpoints(models)  # what the Studio does at start-up
    assert time.process_time() - start < CPU_LIMIT_S
    problem = entry.problem or ""
    assert not entry.ok and ("limit" in problem or "ceiling" in problem)

    start = time.process_time()
    assert main(["model", "info", str(bomb)]) == EXIT_ASSET
    assert time.process_time() - start < CPU_LIMIT_S
    err_text = capsys.readouterr().err
    assert "invalid model config" in err_text and "Traceback" not in err_text


def test_depth_bomb_through_edit_and_training(tiny_generator: Path, tmp_path: Path, media,
                                              no_building: None, capsys: pytest.CaptureFixture[str]) -> None:
    from training.state import load_state

    bomb = _rewrite(tiny_generator, tmp_path / "bomb.safetensors", config=BOMBS["depth"])
    out = tmp_path / "out.png"
    start = time.process_time()
    code = main(["edit", "-s", str(media.path("happy.jpg")), "-r", str(media.path("anger.jpg")),
                 "--model", str(bomb), "-o", str(out)])
    assert code == EXIT_ASSET and not out.exists()
    assert time.process_time() - start < CPU_LIMIT_S
    assert "mfat.depth is 1000000" in capsys.readouterr().err
    _refused(lambda: load_state(bomb), error=CheckpointError)
    _refused(lambda: registry.load_editor(bomb), error=CheckpointError)


# ---------------------------------------------------------------------------------------------
# safetensors files whose header lies


def _raw(header: object, data: bytes = b"", *, length: int | None = None) -> bytes:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


LIARS = {
    "length-2^63": _raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4,
                        length=(1 << 63) - 1),
    "length-past-end": _raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, length=10_000),
    "offsets-past-end": _raw({"a": {"dtype": "F32", "shape": [1 << 20], "data_offsets": [0, 4 << 20]}},
                             b"\0" * 16),
    "shape-offsets-disagree": _raw({"a": {"dtype": "F32", "shape": [1 << 40, 1 << 40],
                                          "data_offsets": [0, 16]}}, b"\0" * 16),
    "overlapping": _raw({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                         "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, b"\0" * 24),
    "unknown-dtype": _raw({"a": {"dtype": "Q99", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
    "not-json": _raw(b"{not json at all", b"\0" * 16),
    "not-utf8": _raw(b"\xff\xfe\xfd" * 10, b""),
    "deep-json": _raw(b'{"__metadata__":' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
    "metadata-not-strings": _raw({"__metadata__": {"format": {"x": 1}}}),
    "truncated-real": b"",  # filled in by the test: a real checkpoint cut in half
}


@pytest.mark.parametrize("name", list(LIARS))
def test_lying_safetensors_headers_are_refused(name: str, tiny_generator: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "models" / f"{name}.safetensors"
    f.parent.mkdir()
    data = LIARS[name] or tiny_generator.read_bytes()[: tiny_generator.stat().st_size // 2]
    f.write_bytes(data)
    _refused(lambda: read_header(f), error=CheckpointError)
    _refused(lambda: load_checkpoint(f), error=CheckpointError)
    registry.clear_cache()
    (entry,) = registry.list_checkpoints(f.parent)
    assert not entry.ok and entry.problem
    assert main(["model", "info", str(f)]) == EXIT_ASSET
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("where", ["config", "extra", "digests"])
def test_deep_json_in_checkpoint_metadata(where: str, tiny_generator: Path, tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    f = _rewrite(tiny_generator, tmp_path / "deep.safetensors", metadata={where: deep})
    err = _refused(lambda: read_header(f), error=CheckpointError)
    assert "nested too deeply" in str(err)


# ---------------------------------------------------------------------------------------------
# Config files


def test_config_files_that_are_not_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "x.safetensors")
    cases = {
        "deep.json": ("[" * 200_000 + "]" * 200_000).encode(),
        "latin1.json": '{"name": "caf\xe9"}'.encode("latin-1"),
        "binary.json": bytes(range(256)) * 4,
        "bomb.json": json.dumps(BOMBS["depth"]).encode(),
        "huge.json": b" " * (2 << 20),
    }
    expected = {"deep.json": "nested too deeply", "latin1.json": "not UTF-8", "binary.json": "not UTF-8",
                "bomb.json": "above the limit", "huge.json": "more than a config"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        start = time.process_time()
        assert main(["model", "init", "--config", str(tmp_path / name), "-o", out]) == EXIT_ERROR, name
        assert time.process_time() - start < CPU_LIMIT_S
        err = capsys.readouterr().err
        assert expected[name] in err and name in err and "Traceback" not in err, err
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.json")
        assert main(["model", "init", "--config", str(tmp_path / "pipe.json"), "-o", out]) == EXIT_ERROR
        assert "not a regular file" in capsys.readouterr().err
    assert not Path(out).exists()


# ---------------------------------------------------------------------------------------------
# Archives: zip-slip and links


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PAYLOAD = b"weights\n" * 1000


def _manifest(filename: str, sha: str) -> assets.Manifest:
    return assets.parse_manifest(f"""
[archives."evil-1.0"]
package = "evil"
version = "1.0"
filename = "{filename}"
sha256 = "{sha}"

[assets.evil]
description = "an archive with escaping entries"
archive = "evil-1.0"
group = "test"
licence = "test"
[assets.evil.members]
"net.dat" = {{ path = "pkg/net.dat", sha256 = "{_sha(PAYLOAD)}" }}
""")


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_zip_slip_entries_are_never_written(kind: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "archives").mkdir(parents=True)
    victim = tmp_path / "victim"
    escapes = ["../../../victim", str(victim), "pkg/../../../../victim"]
    filename = "evil-1.0-py3-none-any.whl" if kind == "zip" else "evil-1.0.tar.gz"
    archive = home / "archives" / filename
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name in escapes:
                zf.writestr(name, b"escaped")
            zf.writestr("pkg/net.dat", PAYLOAD)
    else:
        with tarfile.open(archive, "w:gz") as tf:
            for name in [*escapes, "pkg/net.dat"]:
                data = PAYLOAD if name == "pkg/net.dat" else b"escaped"
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    manifest = _manifest(filename, _sha(archive.read_bytes()))
    monkeypatch.setattr(assets, "load_manifest", lambda: manifest)
    (folder,) = assets.fetch(["evil"], home=home)
    assert sorted(p.name for p in folder.iterdir()) == [".digests.json", "RECEIPT.json", "net.dat"]
    assert not victim.exists()
    assert sorted(p.name for p in home.rglob("*") if p.is_file()) == sorted(
        [".digests.json", ".lock", "RECEIPT.json", "net.dat", filename])
    copy = tmp_path / filename
    copy.write_bytes(archive.read_bytes())
    assert assets.import_archive(copy, home=home) == ["evil"]
    assert not victim.exists()


def test_training_config_files_that_are_not_configs(tmp_path: Path) -> None:
    from training.cli import _base_config
    from training.config import TrainingConfigError

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    assert "nested too deeply" in str(_refused(lambda: _base_config(str(deep)), error=TrainingConfigError))
    assert "UTF-8" in str(_refused(lambda: _base_config(str(latin)), error=TrainingConfigError))
