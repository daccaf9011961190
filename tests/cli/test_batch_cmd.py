"""``gafet batch``: a folder of portraits x one preset, past bad files, with a summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.io import load_photo
from core.nets.checkpoint import save_checkpoint
from core.nets.config import preset
from core.nets.gafet import GaFET
from gafet_studio.cli.main import main


@pytest.fixture()
def folder(tmp_path: Path, media, app_assets: None) -> Path:
    src = tmp_path / "portraits"
    src.mkdir()
    shutil.copy(media.path("anger.jpg"), src / "a_anger.jpg")
    shutil.copy(media.path("disgust.jpg"), src / "b_disgust.jpg")
    (src / "c_broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return src


def test_batch_continues_past_bad_files(tmp_path: Path, folder: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["batch", str(folder), "--preset", "surprise", "--alpha", "0.8", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 2  # every failure was an unreadable file
    assert sorted(p.name for p in out.iterdir()) == ["a_anger.jpg", "b_disgust.jpg"]
    for name in ("a_anger.jpg", "b_disgust.jpg"):
        assert load_photo(out / name).size == load_photo(folder / name).size
    assert "2 of 3 photos edited" in captured.out
    assert "1 failed" in captured.err and "c_broken.jpg" in captured.err

    # a second run never overwrites: the outputs exist (4) and the broken file fails again (2) -> 1
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["batch", str(folder), "--preset", "surprise", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "a_anger.jpg" in err and "already exists" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_batch_refuses_bad_setups(tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = "happy"
    assert main(["batch", str(tmp_path / "nowhere"), "--preset", preset, "-o", str(tmp_path / "o")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["batch", str(empty), "--preset", preset, "-o", str(tmp_path / "o")]) == 1
    assert "has no files" in capsys.readouterr().err
    bad_ref = tmp_path / "ref.jpg"
    bad_ref.write_text("text")
    assert main(["batch", str(folder), "-r", str(bad_ref), "-o", str(tmp_path / "o")]) == 2
    assert "is not an image" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing was written before the reference was ready


def test_batch_with_a_gafet_model(tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--model runs every photo through the checkpoint (an untrained tiny-64: noise, real plumbing);
    a bad model stops the run before any photo is analysed or the output folder is made."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        ckpt = save_checkpoint(tmp_path / "tiny.safetensors", GaFET(config=preset("tiny-64")))
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"not a checkpoint" * 10)
        out = tmp_path / "out"
        assert main(["batch", str(folder), "--preset", "surprise", "--model", str(bad), "-o", str(out)]) == 5
        assert "bad.safetensors" in capsys.readouterr().err and not out.exists()
        assert main(["batch", str(folder), "--preset", "surprise", "--model", str(ckpt), "--device", "cpu",
                     "--crop-size", "128", "-o", str(out)]) == 2  # the broken file, as with the warp editor
        assert "2 of 3 photos edited" in capsys.readouterr().out
        for name in ("a_anger.jpg", "b_disgust.jpg"):
            edited, original = load_photo(out / name).rgb, load_photo(folder / name).rgb
            assert edited.shape == original.shape
            assert np.abs(edited.astype(int) - original).mean() > 5
    finally:
        torch.set_num_threads(before)


def test_batch_survives_an_unexpected_decoder_error_and_prints_each_error_once(
        tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A decoder that raises something no one foresaw (here a TypeError, as Pillow does for a TIFF
    tag of the wrong type) fails that one file; the batch goes on and prints its summary."""
    import core.editing.batch as batch_module

    real_load = batch_module.load_photo

    def load(path: Path):
        if Path(path).name == "b_disgust.jpg":
            raise TypeError("unsupported operand type(s) for +: 'float' and 'IFDRational'")
        return real_load(path)

    monkeypatch.setattr(batch_module, "load_photo", load)
    out = tmp_path / "out"
    code = main(["batch", str(folder), "--preset", "surprise", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 1  # an unexpected error (1) and an unreadable file (2) differ
    assert [p.name for p in out.iterdir()] == ["a_anger.jpg"]
    lines = captured.err.splitlines()
    assert lines[0].startswith("[1/3] a_anger.jpg -> ")
    assert lines[1].startswith("[2/3] b_disgust.jpg: failed: Unexpected TypeError while editing")
    assert lines[2].startswith("[3/3] c_broken.jpg: failed: ")
    assert lines[-1] == "2 failed: b_disgust.jpg, c_broken.jpg"
    assert captured.err.count("IFDRational") == 1 and captured.err.count(lines[2].split("failed: ")[1]) == 1
    assert "1 of 3 photos edited" in captured.out
