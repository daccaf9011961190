"""``gafet edit`` end to end on real photos: outputs, refusals, exit codes, messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.io import load_photo
from core.nets.checkpoint import save_checkpoint
from core.nets.config import preset as cfg
from core.nets.gafet import GaFET
from gafet_studio.cli.main import main


@pytest.fixture()
def preset(tmp_path: Path) -> Path:
    path = tmp_path / "smile.json"
    doc = {"format": "gafet-expression-preset", "version": 1, "name": "smile",
           "aus": {"AU06": 0.6, "AU12": 0.9, "AU25": 0.5}}
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture()
def source(tmp_path: Path, media, app_assets: None) -> Path:
    path = tmp_path / "anger.jpg"
    shutil.copy(media.path("anger.jpg"), path)
    return path


def test_alpha_zero_reproduces_the_source_and_refuses_to_overwrite(
        tmp_path: Path, source: Path, preset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    args = ["edit", "--source", str(source), "--preset", str(preset), "--alpha", "0", "-o", str(out)]
    assert main(args) == 0
    assert capsys.readouterr().out.strip().endswith("out.png")
    # tolerance: none. Intensity 0 moves nothing, so the PNG holds the decoded source exactly
    assert np.array_equal(load_photo(out).rgb, load_photo(source).rgb)

    before = out.read_bytes()
    assert main(args) == 4
    err = capsys.readouterr().err
    assert "already exists" in err and "out.png" in err
    assert out.read_bytes() == before  # untouched

    assert main([*args[:-2], "--alpha", "1", "--overwrite", "-o", str(out)]) == 0
    assert out.read_bytes() != before


def test_full_edit_with_regions_and_au_overrides(tmp_path: Path, source: Path, media) -> None:
    out = tmp_path / "edited.jpg"
    code = main(["edit", "-s", str(source), "-r", str(media.path("surprise.jpg")), "--alpha", "1.2",
                 "--region", "mouth=1,eyes=0.5", "--region", "brows=0", "--au", "AU12=0.3", "AU06=0.2",
                 "--quality", "92", "-o", str(out)])
    assert code == 0
    edited, original = load_photo(out).rgb, load_photo(source).rgb
    assert edited.shape == original.shape
    assert np.abs(edited.astype(int) - original).mean() > 1.0


@pytest.mark.parametrize(
    "extra, code, needle",
    [
        (["--alpha", "2"], 1, "between 0 and 1.5"),
        (["--region", "lips=1"], 1, "Unknown face region 'lips'"),
        (["--region", "mouth"], 1, "NAME=VALUE"),
        (["--au", "AU99=0.5"], 1, "Unknown action unit 'AU99'"),
        (["--quality", "0"], 1, "--quality"),
    ],
)
def test_bad_options(tmp_path: Path, source: Path, preset: Path, extra: list[str], code: int, needle: str,
                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.png"
    assert main(["edit", "-s", str(source), "--preset", str(preset), *extra, "-o", str(out)]) == code
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_bad_inputs_give_distinct_exit_codes(tmp_path: Path, source: Path, preset: Path, media,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.png"
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo")
    cases = [
        (text, 2, "is not an image"),  # could not read the file
        (tmp_path / "missing.jpg", 2, "does not exist"),
        (media.path("no_face.jpg"), 3, "No face was found in 'no_face.jpg'"),  # read, but no face
    ]
    for src, code, needle in cases:
        assert main(["edit", "-s", str(src), "--preset", str(preset), "-o", str(out)]) == code, src
        assert needle in capsys.readouterr().err
    assert main(["edit", "-s", str(source), "--preset", str(preset), "--face", "2", "-o", str(out)]) == 3
    assert "face 2 does not exist" in capsys.readouterr().err
    assert main(["edit", "-s", str(source), "--preset", str(tmp_path / "nope.json"), "-o", str(out)]) == 1
    assert "No expression preset" in capsys.readouterr().err
    assert not out.exists()


def test_never_writes_over_an_input(tmp_path: Path, source: Path, preset: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = source.read_bytes()
    assert main(["edit", "-s", str(source), "--preset", str(preset), "--overwrite", "-o", str(source)]) == 4
    assert "never overwrites its inputs" in capsys.readouterr().err
    assert source.read_bytes() == before
    assert main(["edit", "-s", str(source), "--preset", str(preset), "-o", str(tmp_path / "o.gif")]) == 1
    assert ".png, .jpg or .webp" in capsys.readouterr().err


@pytest.fixture()
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny-64 checkpoint (its face is noise; the plumbing is real)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    return save_checkpoint(path, GaFET(config=cfg("tiny-64")))


def test_model_renders_through_gafet_at_full_resolution(tmp_path: Path, source: Path, media,
                                                        tiny_ckpt: Path, one_thread: None) -> None:
    reference = media.path("surprise.jpg")
    common = ["edit", "--source", str(source), "--reference", str(reference), "--crop-size", "128"]
    gafet_out, warp_out = tmp_path / "gafet.png", tmp_path / "warp.png"
    assert main([*common, "--model", str(tiny_ckpt), "--device", "cpu", "-o", str(gafet_out)]) == 0
    assert main([*common, "-o", str(warp_out)]) == 0  # the default: the warp editor
    original = load_photo(source).rgb.astype(int)
    gafet, warp = load_photo(gafet_out).rgb.astype(int), load_photo(warp_out).rgb.astype(int)
    assert gafet.shape == warp.shape == original.shape  # the source's full resolution (512 x 512)
    face = np.s_[200:330, 180:330]  # cheeks, nose and mouth of anger.jpg
    assert np.abs(gafet[face] - warp[face]).mean() > 10  # an untrained generator's face, not the warp
    # far from the face (the photo's top corners, its right edge): the source, bit for bit
    for far in (np.s_[:40, :40], np.s_[:40, -40:], np.s_[:, -16:]):
        assert np.array_equal(gafet[far], original[far])


def test_bad_models_fail_fast_with_exit_code_5(tmp_path: Path, source: Path, preset: Path, tiny_ckpt: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from core.editing.gafet import registry as model_registry

    out = tmp_path / "o.png"
    missing_photo = tmp_path / "no_such_photo.jpg"  # inputs are checked first, before torch: exit 2
    assert main(["edit", "-s", str(missing_photo), "--preset", str(preset), "--model", "missing.safetensors",
                 "-o", str(out)]) == 2
    assert "no_such_photo.jpg' does not exist" in capsys.readouterr().err
    assert main(["edit", "-s", str(source), "--preset", str(preset), "--model", "missing.safetensors",
                 "-o", str(out)]) == 5
    assert "No GaFET checkpoint 'missing.safetensors' was found" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a checkpoint at all" * 10)
    assert main(["edit", "-s", str(source), "--preset", str(preset), "--model", str(corrupt),
                 "-o", str(out)]) == 5
    err = capsys.readouterr().err
    assert "corrupt.safetensors is not a readable checkpoint" in err
    # a name is looked up in the models folder; a wrong one lists what is there
    monkeypatch.setattr(model_registry, "models_folder", lambda: tiny_ckpt.parent)
    assert main(["edit", "-s", str(source), "--preset", str(preset), "--model", "tinny", "-o", str(out)]) == 5
    assert "Available: tiny." in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["edit", "-s", str(source), "--preset", str(preset), "--model", "tiny",
                     "--device", "cuda", "-o", str(out)]) == 1
        assert "no CUDA device" in capsys.readouterr().err
    assert not out.exists()


def test_rgba_source_keeps_its_alpha_in_png_and_a_jpeg_says_it_dropped_it(
        tmp_path: Path, media, app_assets: None, capsys: pytest.CaptureFixture[str]) -> None:
    rgb = Image.open(media.path("anger.jpg")).convert("RGB")
    alpha = np.tile(np.linspace(40, 255, rgb.width).astype(np.uint8), (rgb.height, 1))
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(alpha))
    src = tmp_path / "anger_rgba.png"
    rgba.save(src)
    png = tmp_path / "edited.png"
    assert main(["edit", "-s", str(src), "--preset", "happy", "-o", str(png)]) == 0
    edited = Image.open(png)
    assert edited.mode == "RGBA"
    assert np.array_equal(np.asarray(edited)[..., 3], alpha), "the source's alpha, unchanged"
    assert np.abs(np.asarray(edited)[..., :3].astype(int) - np.asarray(rgb)).mean() > 0.5, "and the edit"
    assert "transparency" not in capsys.readouterr().err
    jpg = tmp_path / "edited.jpg"
    assert main(["edit", "-s", str(src), "--preset", "happy", "-o", str(jpg)]) == 0
    err = capsys.readouterr().err
    assert "transparency" in err and "dropped" in err and len(err.strip().splitlines()) == 1
    assert Image.open(jpg).mode == "RGB"
