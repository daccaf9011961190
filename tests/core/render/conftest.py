"""Fixtures for the renderer tests: the canonical MediaPipe face placed in a small image."""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest
import torch

from core.assets import asset_path
from core.render.primitives import model_to_screen


class FaceScene(NamedTuple):
    """The canonical face in screen space: verts (1, 468, 3) px, faces (898, 3), size (H, W),
    model (468, 3) cm (y up), scale px per cm."""

    verts: torch.Tensor
    faces: torch.Tensor
    size: tuple[int, int]
    model: torch.Tensor
    scale: float


@pytest.fixture(scope="session")
def face_scene(app_assets: None) -> FaceScene:
    """Canonical face scaled to ~200 px tall in a 256 x 256 image."""
    model = torch.load(asset_path("au-face-model", "canonical_face_model.pt"), weights_only=True)
    with open(asset_path("au-face-model", "canonical_face_tessellation.json"), encoding="utf-8") as fh:
        faces = torch.tensor(json.load(fh)["triangles"], dtype=torch.int64)
    scale = 200.0 / float(model[:, 1].max() - model[:, 1].min())
    verts = model_to_screen(model, scale=scale, center=(128.0, 134.0))[None]
    return FaceScene(verts=verts, faces=faces, size=(256, 256), model=model, scale=scale)
