"""save_image: formats, metadata, atomic writes, never clobbering."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageCms

from core.io import load_photo, save_image
from core.io.errors import OutputExistsError, OutputIsInputError, SaveError, UnsupportedFormatError


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([x * 4, y * 5, (x + y) * 2], axis=2).astype(np.uint8)


@pytest.fixture(scope="module")
def alpha() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (48, 64), dtype=np.uint8)


def _no_temp_files(folder) -> bool:
    return not [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_png_round_trip_is_exact_with_alpha(tmp_path, rgb, alpha):
    out = save_image(tmp_path / "out.png", rgb, alpha=alpha)
    assert out == (tmp_path / "out.png").absolute()
    photo = load_photo(out)
    np.testing.assert_array_equal(photo.rgb, rgb)
    np.testing.assert_array_equal(photo.alpha, alpha)
    assert _no_temp_files(tmp_path)


def test_webp_lossless_keeps_alpha_and_hidden_colours(tmp_path, rgb):
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, 32:] = 255
    photo = load_photo(save_image(tmp_path / "out.webp", rgb, alpha=alpha, lossless=True))
    np.testing.assert_array_equal(photo.rgb, rgb)  # even under fully transparent pixels
    np.testing.assert_array_equal(photo.alpha, alpha)


@pytest.mark.parametrize(("name", "quality", "limit"), [("q95.jpg", 95, 3.0), ("q60.webp", 60, 6.0)])
def test_lossy_formats_respect_quality(tmp_path, rgb, name, quality, limit):
    photo = load_photo(save_image(tmp_path / name, rgb, quality=quality))
    error = np.abs(photo.rgb.astype(int) - rgb).mean()
    assert error < limit, f"{name}: mean abs error {error:.2f}"


def test_jpeg_quality_changes_size(tmp_path, media):
    face = load_photo(media.path("happy.jpg")).rgb
    high = save_image(tmp_path / "high.jpg", face, quality=95).stat().st_size
    low = save_image(tmp_path / "low.jpg", face, quality=40).stat().st_size
    assert low < high / 2


def test_icc_and_exif_are_carried(tmp_path, rgb):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "GaFET"
    for name in ("a.jpg", "a.png", "a.webp"):
        photo = load_photo(save_image(tmp_path / name, rgb, icc_profile=icc, exif=exif.tobytes()))
        assert photo.icc_profile == icc, name
        kept = Image.Exif()
        kept.load(photo.exif)
        assert kept[0x010F] == "GaFET", name


def test_existing_file_is_not_overwritten(tmp_path, rgb):
    path = tmp_path / "taken.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError) as info:
        save_image(path, rgb)
    assert "taken.png" in str(info.value)
    assert path.read_bytes() == b"precious"
    assert _no_temp_files(tmp_path)
    save_image(path, rgb, overwrite=True)
    np.testing.assert_array_equal(load_photo(path).rgb, rgb)
    assert _no_temp_files(tmp_path)


def test_input_is_never_overwritten(tmp_path, rgb, monkeypatch):
    source = tmp_path / "input.png"
    save_image(source, rgb)
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "alias.png"
    link.symlink_to(source)
    for target in (source, "input.png", link, tmp_path / "sub" / ".." / "input.png"):
        with pytest.raises(OutputIsInputError):
            save_image(target, rgb[::-1].copy(), overwrite=True, protect=[source])
    assert source.read_bytes() == before


def test_failed_encoding_leaves_nothing(tmp_path, rgb, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(SaveError) as info:
        save_image(tmp_path / "out.png", rgb)
    assert "No space left" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_jpeg_cannot_take_alpha(tmp_path, rgb, alpha):
    with pytest.raises(SaveError, match="transparency"):
        save_image(tmp_path / "out.jpg", rgb, alpha=alpha)
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension(tmp_path, rgb):
    with pytest.raises(UnsupportedFormatError):
        save_image(tmp_path / "out.gif", rgb)


def test_missing_folder(tmp_path, rgb):
    with pytest.raises(SaveError, match="does not exist"):
        save_image(tmp_path / "no" / "such" / "out.png", rgb)


def test_non_ascii_path(tmp_path, rgb):
    path = save_image(tmp_path / "résultat 结果.webp", rgb, lossless=True)
    assert path.exists() and os.path.basename(path) == "résultat 结果.webp"
    np.testing.assert_array_equal(load_photo(path).rgb, rgb)


def test_bad_arguments(tmp_path, rgb):
    with pytest.raises(ValueError, match="uint8"):
        save_image(tmp_path / "a.png", rgb.astype(np.float32))
    with pytest.raises(ValueError, match="alpha"):
        save_image(tmp_path / "a.png", rgb, alpha=np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="quality"):
        save_image(tmp_path / "a.jpg", rgb, quality=0)
    assert list(tmp_path.iterdir()) == []


def test_saved_file_gets_normal_permissions(tmp_path) -> None:
    import os
    import stat

    import numpy as np

    from core.io import save_image

    mask = os.umask(0o022)
    os.umask(mask)
    out = save_image(tmp_path / "p.png", np.zeros((16, 16, 3), np.uint8))
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
