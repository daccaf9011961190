"""load_photo: formats, pixel modes, EXIF orientation, metadata kept for export."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from core.io import load_photo
from core.io.orientation import ORIENTATION_TAG, upright


@pytest.fixture(scope="module")
def happy_rgb(media) -> np.ndarray:
    with Image.open(media.path("happy.jpg")) as im:
        return np.asarray(im.convert("RGB")).copy()


def test_real_jpeg_loads_as_readonly_rgb(media):
    photo = load_photo(media.path("single_face.jpg"))
    assert photo.rgb.shape == (562, 572, 3) and photo.rgb.dtype == np.uint8
    assert photo.size == photo.original_size == (572, 562)
    assert photo.format == "JPEG" and photo.source_mode == "RGB" and photo.alpha is None
    assert not photo.rgb.flags.writeable and photo.rgb.flags.c_contiguous
    with Image.open(media.path("single_face.jpg")) as im:
        np.testing.assert_array_equal(photo.rgb, np.asarray(im))


def test_greyscale_photo_becomes_rgb(media):
    photo = load_photo(media.path("bw_photo.jpg"))
    assert photo.rgb.shape == (1912, 2560, 3)
    np.testing.assert_array_equal(photo.rgb[..., 0], photo.rgb[..., 2])


@pytest.mark.parametrize("suffix", [".png", ".webp", ".bmp", ".tif"])
def test_lossless_formats_load_exactly(tmp_path, happy_rgb, suffix):
    path = tmp_path / f"face{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(happy_rgb).save(path, **options)
    photo = load_photo(path)
    np.testing.assert_array_equal(photo.rgb, happy_rgb)


def test_exif_orientation_6_is_applied_and_removed(tmp_path, happy_rgb):
    # Orientation 6 = "rotate 90° clockwise to display": store the picture turned counter-clockwise.
    stored = Image.fromarray(happy_rgb[:, 64:448]).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    exif[0x010F] = "GaFET test camera"  # Make
    path = tmp_path / "rotated.jpg"
    stored.save(path, quality=98, exif=exif)

    photo = load_photo(path)
    assert stored.size == (512, 384)
    assert photo.size == (384, 512) and photo.orientation == 6
    error = np.abs(photo.rgb.astype(int) - happy_rgb[:, 64:448]).mean()
    assert error < 3.0, f"mean abs error {error:.2f} vs the upright original (JPEG loss only)"
    kept = Image.Exif()
    kept.load(photo.exif)
    assert ORIENTATION_TAG not in kept and kept[0x010F] == "GaFET test camera"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(tmp_path, orientation):
    pixels = np.random.default_rng(orientation).integers(0, 256, (20, 33, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(pixels).save(path, exif=exif)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(load_photo(path).rgb, expected)
    np.testing.assert_array_equal(upright(pixels, orientation), expected)


def test_sixteen_bit_grey_png_is_rounded_to_eight_bits(tmp_path):
    grey16 = np.tile(np.array([0, 257, 32768, 65535, 300, 65280], np.uint16), (16, 3))
    path = tmp_path / "grey16.png"
    Image.fromarray(grey16).save(path)
    photo = load_photo(path)
    assert photo.source_mode.startswith("I;16")
    expected = np.tile(np.array([0, 1, 128, 255, 1, 254], np.uint8), (16, 3))
    np.testing.assert_array_equal(photo.rgb[..., 1], expected)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_rgb_keeps_the_high_byte(tmp_path, suffix):
    rgb16 = np.random.default_rng(1).integers(0, 65536, (24, 20, 3), dtype=np.uint16)
    path = tmp_path / f"rgb16{suffix}"
    assert cv2.imwrite(str(path), rgb16[..., ::-1])  # cv2 writes BGR
    photo = load_photo(path)
    np.testing.assert_array_equal(photo.rgb, (rgb16 >> 8).astype(np.uint8))


def test_rgba_png_keeps_alpha_separately(tmp_path):
    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, (40, 30, 4), dtype=np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    photo = load_photo(path)
    np.testing.assert_array_equal(photo.rgb, rgba[..., :3])
    np.testing.assert_array_equal(photo.alpha, rgba[..., 3])
    assert not photo.alpha.flags.writeable


def test_grey_with_alpha_png(tmp_path):
    la = np.random.default_rng(3).integers(0, 256, (20, 20, 2), dtype=np.uint8)
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    photo = load_photo(path)
    np.testing.assert_array_equal(photo.rgb[..., 1], la[..., 0])
    np.testing.assert_array_equal(photo.alpha, la[..., 1])


def test_palette_png(tmp_path, happy_rgb):
    palette = Image.fromarray(happy_rgb).quantize(colors=64)
    path = tmp_path / "palette.png"
    palette.save(path)
    photo = load_photo(path)
    assert photo.source_mode == "P" and photo.alpha is None
    np.testing.assert_array_equal(photo.rgb, np.asarray(palette.convert("RGB")))


def test_palette_png_with_transparency_gives_alpha(tmp_path):
    image = Image.new("P", (20, 20), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 10, 20))
    path = tmp_path / "palette_t.png"
    image.save(path, transparency=1)
    photo = load_photo(path)
    assert photo.alpha is not None
    assert (photo.alpha[:, :10] == 0).all() and (photo.alpha[:, 10:] == 255).all()
    np.testing.assert_array_equal(photo.rgb[0, 15], [255, 0, 0])


def test_cmyk_jpeg_is_converted(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 0, 0)).save(path, quality=100)  # full magenta ink
    photo = load_photo(path)
    assert photo.source_mode == "CMYK" and photo.icc_profile is None
    r, g, b = photo.rgb[16, 16].astype(int)
    assert r > 240 and g < 15 and b > 240, f"expected magenta, got {(r, g, b)}"


def test_rgb_icc_profile_is_kept(tmp_path, happy_rgb):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "tagged.jpg"
    Image.fromarray(happy_rgb).save(path, icc_profile=icc)
    assert load_photo(path).icc_profile == icc


def test_non_ascii_path(tmp_path, happy_rgb):
    folder = tmp_path / "папка 照片"
    folder.mkdir()
    path = folder / "фото 写真.png"
    Image.fromarray(happy_rgb).save(path)
    photo = load_photo(str(path))
    assert photo.source_path == path
    np.testing.assert_array_equal(photo.rgb, happy_rgb)


def test_format_comes_from_content_not_extension(tmp_path, happy_rgb):
    # A JPEG with an unusual extension still loads: the format comes from the content.
    path = tmp_path / "photo.jpeg.backup"
    buf = io.BytesIO()
    Image.fromarray(happy_rgb).save(buf, "JPEG")
    path.write_bytes(buf.getvalue())
    assert load_photo(path).format == "JPEG"


def _fake_icc(colour_space: bytes) -> bytes:
    """A 132-byte blob with an ICC header naming ``colour_space``; LittleCMS cannot use it."""
    header = bytearray(132)
    header[0:4] = (132).to_bytes(4, "big")
    header[16:20] = colour_space
    header[36:40] = b"acsp"
    return bytes(header)


def test_profiles_that_do_not_fit_rgb_output_are_dropped(tmp_path):
    cmyk = tmp_path / "cmyk_bad_profile.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 0, 0)).save(cmyk, quality=100, icc_profile=_fake_icc(b"CMYK"))
    photo = load_photo(cmyk)
    assert photo.icc_profile is None
    r, g, b = photo.rgb[16, 16].astype(int)
    assert r > 240 and g < 15 and b > 240  # the plain conversion was used

    grey = tmp_path / "grey_profile.jpg"
    Image.new("L", (32, 32), 77).save(grey, icc_profile=_fake_icc(b"GRAY"))
    photo = load_photo(grey)
    assert photo.icc_profile is None and (photo.rgb == 77).all()
