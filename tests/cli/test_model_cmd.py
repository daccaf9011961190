"""``gafet model init|info|presets`` on tiny-64."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import EXIT_ASSET, EXIT_ERROR, EXIT_OUTPUT_EXISTS
from core.nets.checkpoint import load_checkpoint
from core.nets.config import config_to_json, preset
from gafet_studio.cli.main import main


def test_init_then_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "tiny.safetensors"
    assert main(["model", "init", "--config", "tiny-64", "-o", str(ckpt), "--seed", "3"]) == 0
    assert "wrote" in capsys.readouterr().out
    loaded = load_checkpoint(ckpt, discriminators=True, expected_config=preset("tiny-64"))
    assert loaded.extra["seed"] == 3 and loaded.component_discriminator is not None

    assert main(["model", "info", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "config: tiny-64" in out and "digests ok" in out
    assert any(x.split() == ["resolution", "64"] for x in out.splitlines())
    parts = ("generator", "appearance_encoder", "mfat", "decoder", "discriminator", "component_discriminator")
    assert all(part in out for part in parts)
    assert "FLOPs per forward" in out and "generator decode (slider move)" in out and "MFLOPs" in out
    total = sum(p.numel() for p in loaded.generator.parameters())
    assert f"{total:,}" in out


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "tiny.safetensors"
    assert main(["model", "init", "--config", "tiny-64", "-o", str(ckpt), "--generator-only"]) == 0
    before = ckpt.read_bytes()
    assert main(["model", "init", "--config", "tiny-64", "-o", str(ckpt)]) == EXIT_OUTPUT_EXISTS
    assert "pass --overwrite" in capsys.readouterr().err
    assert ckpt.read_bytes() == before
    assert main(["model", "init", "--config", "tiny-64", "-o", str(ckpt), "--overwrite", "--seed", "1"]) == 0
    assert ckpt.read_bytes() != before


def test_init_from_a_json_config_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(config_to_json(preset("tiny-64").with_switches(use_mfat=False)))
    ckpt = tmp_path / "no_mfat.safetensors"
    assert main(["model", "init", "--config", str(cfg_file), "-o", str(ckpt)]) == 0
    assert main(["model", "info", str(ckpt), "--no-flops"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("switches.use_mfat"))
    assert line.split()[-1] == "false"

    target = str(tmp_path / "x.safetensors")
    assert main(["model", "init", "--config", "gafet-9000", "-o", target]) == EXIT_ERROR
    assert "Unknown GaFET preset 'gafet-9000'" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["model", "info", str(bad)]) == EXIT_ASSET
    assert "damaged or incomplete" in capsys.readouterr().err


def test_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("gafet-256", "gafet-512", "tiny-64"))
