"""GafetEditor on real photos (single_face.jpg -> surprise.jpg) with a randomly initialised tiny-64
checkpoint written at test time. The untrained face is noise; the plumbing (resampling, geometry
image, caches, compositing, paste-back) is the real one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.editing.editor import EditGeometry, EditInputs, Editor
from core.editing.gafet.editor import GafetEditor, UnsupportedModelError, resize_rgb, to_model_image
from core.editing.gafet.engine import GafetEngine
from core.editing.masks import build_masks
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedReference, PreparedSource
from core.errors import EXIT_ASSET, GafetError
from core.io import load_photo
from core.nets.checkpoint import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointNotFoundError,
    save_checkpoint,
)
from core.nets.config import preset
from core.nets.gafet import GaFET
from core.render.flow import FlowField, backward_flow, identity_grid, resize_grid, warp
from core.render.geometry_image import geometry_image

CROP = 128  # R: larger than tiny-64's r = 64, so every input is resampled


def write_tiny(path: Path, *, seed: int = 0, **changes: object) -> Path:
    torch.manual_seed(seed)
    config = dataclasses.replace(preset("tiny-64"), **changes) if changes else preset("tiny-64")
    return save_checkpoint(path, GaFET(config=config))


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("models") / "tiny.safetensors")


@pytest.fixture(scope="module")
def pipe(app_assets: None, tiny_ckpt: Path) -> EditPipeline:
    torch.set_num_threads(1)
    return EditPipeline(editor=GafetEditor.from_checkpoint(tiny_ckpt, device="cpu"), crop_size=CROP)


@pytest.fixture(scope="module")
def prepared(pipe: EditPipeline, media) -> tuple[PreparedSource, PreparedReference]:
    return (pipe.prepare_source(load_photo(media.path("single_face.jpg"))),
            pipe.prepare_reference(load_photo(media.path("surprise.jpg"))))


def edit_inputs(pipe: EditPipeline, src: PreparedSource, ref: PreparedReference, alpha: float) -> EditInputs:
    """What EditPipeline.render hands its editor."""
    target = pipe.target_vertices(src, ref, EditParams(alpha=alpha))
    link = pipe.geometry
    geometry = EditGeometry(faces=link.faces, source=src.vertices, target=target, reference=ref.vertices,
                            mouth_faces=link.mouth_faces, eye_faces=link.eye_faces, size=CROP)
    flow = backward_flow(EditGeometry.screen(target), EditGeometry.screen(src.vertices)[..., :2],
                         torch.from_numpy(np.array(link.faces)), (CROP, CROP))
    masks = build_masks(geometry, flow.displacement[0].numpy())
    return EditInputs(src.aligned.crop, flow, masks,
                      ref.aligned.crop if ref.aligned is not None else None, geometry)


def test_editor_protocol_and_name(tiny_ckpt: Path) -> None:
    editor = GafetEditor.from_checkpoint(tiny_ckpt, device="cpu")
    assert isinstance(editor, Editor)
    assert editor.name == "GaFET: tiny (tiny-64)" and editor.resolution == 64
    assert not hasattr(editor, "edit_detailed")  # the pipeline must treat it as a plain editor
    bare = GafetEditor(engine=GafetEngine(GaFET(config=preset("tiny-64")), device="cpu"))
    assert bare.name == "GaFET (tiny-64)"


def test_edit_on_real_crops(pipe: EditPipeline, prepared, tiny_ckpt: Path) -> None:
    inputs = edit_inputs(pipe, *prepared, alpha=1.0)
    editor = GafetEditor.from_checkpoint(tiny_ckpt, device="cpu")
    out = editor.edit(inputs).crop
    assert out.shape == (CROP, CROP, 3) and out.dtype == np.uint8
    outside = inputs.masks.face == 0
    assert outside.mean() > 0.1  # the crop has background the edit may not touch
    np.testing.assert_array_equal(out[outside], inputs.source_crop[outside])
    inside = inputs.masks.face > 0.5
    assert np.abs(out[inside].astype(int) - inputs.source_crop[inside]).mean() > 5  # the model's output
    # deterministic: the same editor again, and a second editor from the same file
    np.testing.assert_array_equal(editor.edit(inputs).crop, out)
    again = GafetEditor.from_checkpoint(tiny_ckpt, device="cpu").edit(inputs).crop
    np.testing.assert_array_equal(again, out)


def test_slider_moves_reuse_the_encodings(pipe: EditPipeline, prepared, tiny_ckpt: Path) -> None:
    src, ref = prepared
    editor = GafetEditor.from_checkpoint(tiny_ckpt, device="cpu")
    outs = [editor.edit(edit_inputs(pipe, src, ref, alpha)).crop for alpha in (1.0, 0.6, 0.3)]
    s = editor.stats
    assert (s.source_encodes, s.reference_encodes, s.decodes) == (1, 1, 3)
    assert not np.array_equal(outs[0], outs[1])  # geometry and flow did change the output
    # a preset (no reference photo): the source crop is the reference, so only E_d re-runs
    preset_inputs = edit_inputs(pipe, src, ref, 1.0)._replace(reference_crop=None)
    via_none = editor.edit(preset_inputs).crop
    assert (s.source_encodes, s.reference_encodes) == (1, 2)
    explicit = editor.edit(preset_inputs._replace(reference_crop=src.aligned.crop)).crop
    np.testing.assert_array_equal(via_none, explicit)
    assert (s.source_encodes, s.reference_encodes, s.decodes) == (1, 2, 5)


def test_intensity_zero_returns_the_source_without_running_the_model(pipe: EditPipeline, prepared,
                                                                     tiny_ckpt: Path) -> None:
    inputs = edit_inputs(pipe, *prepared, alpha=0.0)
    assert not inputs.masks.face.any()
    editor = GafetEditor.from_checkpoint(tiny_ckpt, device="cpu")
    np.testing.assert_array_equal(editor.edit(inputs).crop, inputs.source_crop)
    assert editor.stats.decodes == 0


def test_geometry_image_of_the_target_mesh(pipe: EditPipeline, prepared) -> None:
    inputs = edit_inputs(pipe, *prepared, alpha=1.0)
    r = 64
    screen = EditGeometry.screen(inputs.geometry.target) * (r / CROP)
    geo = geometry_image(screen, torch.from_numpy(np.array(inputs.geometry.faces)), r)
    assert geo.shape == (1, 4, r, r) and geo.dtype == torch.float32
    normals, mask = geo[0, :3], geo[0, 3]
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert normals[:, mask == 0].abs().max() == 0  # zero off the face
    length = normals[:, mask == 1].norm(dim=0)
    torch.testing.assert_close(length, torch.ones_like(length), atol=1e-4, rtol=0)
    assert normals[2, mask == 1].mean() > 0.6  # the face looks at the camera
    # the rendered face sits where the target mesh is (scaled by r / R, pixel centres kept)
    ys, xs = np.nonzero(mask.numpy())
    tgt = inputs.geometry.target
    for got, want in ((xs.min(), tgt[:, 0].min()), (xs.max(), tgt[:, 0].max()),
                      (ys.min(), tgt[:, 1].min()), (ys.max(), tgt[:, 1].max())):
        assert abs((got + 0.5) - (want + 0.5) * r / CROP) <= 1.0


def test_flow_resampling_commutes_with_warping(pipe: EditPipeline, prepared) -> None:
    inputs = edit_inputs(pipe, *prepared, alpha=1.0)
    r = 64
    assert torch.equal(resize_grid(identity_grid(CROP, CROP), r), identity_grid(r, r))
    src = torch.from_numpy(inputs.source_crop).permute(2, 0, 1)[None].float()
    warped_then_small = torch.from_numpy(resize_rgb(warp(src, inputs.flow)[0].permute(1, 2, 0).numpy(), r))
    small = torch.from_numpy(resize_rgb(inputs.source_crop, r)).permute(2, 0, 1)[None]
    grid = resize_grid(inputs.flow.grid, r)
    small_then_warped = warp(small, FlowField(grid, grid, grid[..., 0]))[0].permute(1, 2, 0)
    moved = (inputs.flow.displacement[0].norm(dim=-1) > 1.0).float()[None, None]
    moved = torch.nn.functional.interpolate(moved, size=(r, r), mode="area")[0, 0] > 0.99
    assert moved.sum() > 50  # the check covers pixels that really move
    diff = (warped_then_small - small_then_warped).abs().mean(dim=-1)
    assert diff[moved].mean() < 6.0  # levels (of 255); a flow at the wrong scale is far off
    # upsampling keeps a uniform shift in normalised coordinates
    shifted = identity_grid(32, 32) + torch.tensor([0.1, -0.05])
    torch.testing.assert_close(resize_grid(shifted, 64), identity_grid(64, 64) + torch.tensor([0.1, -0.05]))
    image = to_model_image(inputs.source_crop, r)
    assert image.shape == (1, 3, r, r) and -1.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_pipeline_end_to_end_full_resolution(pipe: EditPipeline, prepared) -> None:
    src, ref = prepared
    result = pipe.render(src, ref, EditParams(alpha=1.0))
    photo = np.asarray(src.photo.rgb)
    assert result.image is not None and result.image.shape == photo.shape and result.image.dtype == np.uint8
    assert result.crop.shape == (CROP, CROP, 3) and result.editor_name == "GaFET: tiny (tiny-64)"
    # the background: outside the change mask mapped to the photo (grown by a few px) nothing moved
    masks = edit_inputs(pipe, src, ref, 1.0).masks
    h, w = photo.shape[:2]
    footprint = cv2.warpAffine(masks.face, src.aligned.inverse, (w, h), flags=cv2.INTER_LINEAR)
    near = cv2.dilate((footprint > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert (~near).mean() > 0.3
    np.testing.assert_array_equal(result.image[~near], photo[~near])
    changed = np.abs(result.image.astype(int) - photo).max(axis=2) > 10
    assert changed[near].mean() > 0.2  # the model's face was pasted back


def test_pipeline_with_a_preset_and_plain_paste_back(tiny_ckpt: Path, media) -> None:
    # R = 320: not a power of two, and a face no larger in the photo than the crop
    # (aligned.scale >= 0.95); every editor's result goes through the single-resampling paste
    pipe = EditPipeline(editor=GafetEditor.from_checkpoint(tiny_ckpt, device="cpu"), crop_size=320)
    src = pipe.prepare_source(load_photo(media.path("single_face.jpg")))
    assert src.aligned.scale >= 0.95
    happy = pipe.prepare_preset({"AU06": 0.8, "AU12": 1.0, "AU25": 0.5})
    result = pipe.render(src, happy, EditParams(alpha=0.8))
    photo = np.asarray(src.photo.rgb)
    assert result.image is not None and result.image.shape == photo.shape
    assert result.crop.shape == (320, 320, 3)
    corners = np.ones(photo.shape[:2], bool)
    corners[photo.shape[0] // 8: -photo.shape[0] // 8, photo.shape[1] // 8: -photo.shape[1] // 8] = False
    np.testing.assert_array_equal(result.image[corners], photo[corners])
    assert not np.array_equal(result.image, photo)


def test_crop_smaller_than_the_model(pipe: EditPipeline, prepared) -> None:
    big = edit_inputs(pipe, *prepared, alpha=1.0)
    small, s = 48, 48 / CROP  # r = 64 > R = 48: every input is upsampled, the output downsampled

    def scaled(v: np.ndarray | None) -> np.ndarray | None:
        return None if v is None else np.concatenate([(v[:, :2] + 0.5) * s - 0.5, v[:, 2:] * s], axis=1)

    g = big.geometry
    geometry = EditGeometry(faces=g.faces, source=scaled(g.source), target=scaled(g.target),
                            reference=g.reference, mouth_faces=g.mouth_faces, eye_faces=g.eye_faces,
                            size=small)
    flow = backward_flow(EditGeometry.screen(geometry.target), EditGeometry.screen(geometry.source)[..., :2],
                         torch.from_numpy(np.array(g.faces)), (small, small))
    masks = build_masks(geometry, flow.displacement[0].numpy())
    crop = cv2.resize(big.source_crop, (small, small), interpolation=cv2.INTER_AREA)
    out = pipe.editor.edit(EditInputs(source_crop=crop, flow=flow, masks=masks,
                                      reference_crop=big.reference_crop, geometry=geometry)).crop
    assert out.shape == (small, small, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[masks.face == 0], crop[masks.face == 0])


def test_missing_damaged_and_unsupported_checkpoints(tmp_path: Path, tiny_ckpt: Path) -> None:
    with pytest.raises(CheckpointNotFoundError) as missing:
        GafetEditor.from_checkpoint(tmp_path / "nope.safetensors")
    assert isinstance(missing.value, GafetError) and missing.value.exit_code == EXIT_ASSET
    assert "nope.safetensors" in str(missing.value)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_ckpt.read_bytes()[:5000])
    with pytest.raises(CheckpointCorruptError):
        GafetEditor.from_checkpoint(truncated)
    flipped = tmp_path / "flipped.safetensors"
    data = bytearray(tiny_ckpt.read_bytes())
    data[-100] ^= 0xFF  # inside the weights: the header still reads
    flipped.write_bytes(bytes(data))
    with pytest.raises(CheckpointCorruptError, match="damaged"):
        GafetEditor.from_checkpoint(flipped)
    odd = write_tiny(tmp_path / "three.safetensors", geometry_channels=3, name="tiny-g3")
    with pytest.raises(UnsupportedModelError, match="3 channels") as unsupported:
        GafetEditor.from_checkpoint(odd)
    assert isinstance(unsupported.value, CheckpointError)


def test_bad_inputs_are_refused(pipe: EditPipeline, prepared) -> None:
    inputs = edit_inputs(pipe, *prepared, alpha=1.0)
    editor = pipe.editor
    with pytest.raises(ValueError, match="source_crop"):
        editor.edit(inputs._replace(source_crop=inputs.source_crop[:64, :64]))
    with pytest.raises(ValueError, match="reference_crop"):
        editor.edit(inputs._replace(reference_crop=inputs.source_crop.astype(np.float32)))
