from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from core.errors import GafetError
from core.nets import checkpoint as ckpt
from core.nets.checkpoint import (
    CheckpointConfigError,
    CheckpointCorruptError,
    CheckpointExistsError,
    CheckpointFormatError,
    CheckpointKeysError,
    CheckpointNotFoundError,
    CheckpointShapeError,
    load_checkpoint,
    read_header,
    save_checkpoint,
    verify_checkpoint,
)
from core.nets.config import GafetConfig, config_to_json
from core.nets.gafet import GaFET, build_networks
from tests.helpers.nets import make_inputs


@pytest.fixture
def saved(tmp_path: Path, tiny: GafetConfig) -> tuple[Path, object]:
    torch.manual_seed(0)
    nets = build_networks(tiny)
    path = save_checkpoint(tmp_path / "tiny.safetensors", nets, extra={"step": 7})
    return path, nets


def _rewrite(src: Path, dst: Path, *, tensors=None, metadata=None) -> Path:
    with safe_open(str(src), framework="pt") as fh:
        t = {k: fh.get_tensor(k) for k in fh.keys()}
        m = dict(fh.metadata())
    save_file(tensors(t) if tensors else t, str(dst), metadata=metadata(m) if metadata else m)
    return dst


def _damage(src: Path, dst: Path, key: str) -> Path:
    """Copy ``src`` with the first byte of tensor ``key``'s data inverted."""
    data = bytearray(src.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    start = json.loads(data[8:8 + header_len])[key]["data_offsets"][0]
    data[8 + header_len + start] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def test_round_trip_gives_identical_outputs(saved, tiny: GafetConfig) -> None:
    path, nets = saved
    loaded = load_checkpoint(path, discriminators=True, expected_config=tiny)
    assert loaded.config == tiny and loaded.extra == {"step": 7}
    inp = make_inputs(tiny, 2)
    with torch.no_grad():
        assert torch.equal(loaded.generator(*inp).image, nets.generator(*inp).image)
        assert torch.equal(loaded.discriminator(inp.source), nets.discriminator(inp.source))
        p = torch.rand(2, 3, 16, 16)
        assert torch.equal(loaded.component_discriminator(p), nets.component_discriminator(p))
    assert all(p.requires_grad and p.device.type == "cpu" for p in loaded.generator.parameters())
    assert load_checkpoint(path).discriminator is None
    assert verify_checkpoint(path).parts == ("generator", "discriminator", "component_discriminator")


def test_generator_only_export(tmp_path: Path, tiny: GafetConfig) -> None:
    path = save_checkpoint(tmp_path / "g.safetensors", GaFET(config=tiny))
    assert read_header(path).parts == ("generator",)
    assert isinstance(load_checkpoint(path).generator, GaFET)
    with pytest.raises(CheckpointKeysError, match="no discriminator weights"):
        load_checkpoint(path, discriminators=True)


def test_writes_are_atomic_and_refuse_to_overwrite(saved, tmp_path: Path, tiny: GafetConfig,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path, nets = saved
    before = path.read_bytes()
    with pytest.raises(CheckpointExistsError, match="already exists"):
        save_checkpoint(path, nets)

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.os, "fsync", crash)  # fails after the temporary file was written
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, nets, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.safetensors"]  # no temporary left behind


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_corrupt_and_truncated_files(saved, tmp_path: Path) -> None:
    path, _ = saved
    data = path.read_bytes()
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x13\x37 not a checkpoint" * 50)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    for bad in (garbage, truncated):
        with pytest.raises(CheckpointCorruptError, match="damaged or incomplete") as err:
            load_checkpoint(bad)
        assert isinstance(err.value, GafetError) and bad.name in str(err.value)
    # Damage inside the weights: safetensors' own checks pass, the digests do not.
    generator_hit = _damage(path, tmp_path / "g_hit.safetensors", "generator.decoder.to_rgb.bias")
    with pytest.raises(CheckpointCorruptError, match="the generator weights do not match the digest"):
        load_checkpoint(generator_hit)
    load_checkpoint(generator_hit, verify=False)  # structure is fine: only the digest catches it
    d_hit = _damage(path, tmp_path / "d_hit.safetensors", "component_discriminator.out.bias")
    load_checkpoint(d_hit)  # loading the generator alone reads (and hashes) only the generator
    with pytest.raises(CheckpointCorruptError, match="component discriminator weights do not match"):
        load_checkpoint(d_hit, discriminators=True)
    with pytest.raises(CheckpointCorruptError, match="component discriminator weights do not match"):
        verify_checkpoint(d_hit)


def test_wrong_config(saved, tmp_path: Path, tiny: GafetConfig) -> None:
    path, _ = saved
    other = tiny.with_switches(use_mfat=False)
    with pytest.raises(CheckpointConfigError, match=r"switches.use_mfat: True != False"):
        load_checkpoint(path, expected_config=other)
    def bad_resolution(m: dict) -> dict:
        return {**m, "config": m["config"].replace('"resolution": 64', '"resolution": 60')}

    broken = _rewrite(path, tmp_path / "broken.safetensors", metadata=bad_resolution)
    with pytest.raises(CheckpointConfigError, match="invalid model config.*resolution 60"):
        load_checkpoint(broken)
    # A valid config that does not describe the stored weights.
    mismatched = _rewrite(path, tmp_path / "mismatched.safetensors",
                          metadata=lambda m: {**m, "config": config_to_json(other)})
    with pytest.raises(CheckpointKeysError, match="unexpected tensor.*generator.mfat"):
        load_checkpoint(mismatched, verify=False)


def test_shape_mismatch_names_key_and_shapes(saved, tmp_path: Path) -> None:
    path, _ = saved
    key = "generator.decoder.to_rgb.bias"

    def widen(t: dict) -> dict:
        return {**t, key: torch.zeros(4)}

    bad = _rewrite(path, tmp_path / "shape.safetensors", tensors=widen)
    with pytest.raises(CheckpointShapeError, match=rf"'{key}' has shape \[4\].*needs \[3\]") as err:
        load_checkpoint(bad)
    assert (err.value.key, err.value.expected, err.value.found) == (key, (3,), (4,))


def test_missing_tensor_and_foreign_files(saved, tmp_path: Path) -> None:
    path, _ = saved
    drop = "generator.decoder.to_rgb.bias"
    missing = _rewrite(path, tmp_path / "missing.safetensors", tensors=lambda t: {k: v for k, v in t.items()
                                                                               if k != drop})
    with pytest.raises(CheckpointKeysError, match=rf"missing 1 tensor\(s\): {drop}"):
        load_checkpoint(missing)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointFormatError, match="not a GaFET checkpoint"):
        load_checkpoint(foreign)
    newer = _rewrite(path, tmp_path / "newer.safetensors", metadata=lambda m: {**m, "format_version": "2"})
    with pytest.raises(CheckpointFormatError, match="format version 2.*newer"):
        load_checkpoint(newer)
