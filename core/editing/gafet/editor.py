"""The GaFET generator as an editor (DESIGN §6, paper §3.2-3.3): a checkpoint turns the aligned
source crop, the flow and the target geometry into the edited crop.

Per call of :meth:`GafetEditor.edit`, with R the crop side and r the model's resolution
(``config.resolution``: 64, 256, 512):

1. the source crop and the reference crop (R' px) are resampled to r x r (area when shrinking,
   bicubic when growing) and scaled to [-1, 1];
2. the **geometry image** is the *target* mesh rendered at r x r
   (:func:`core.render.geometry_image.geometry_image`): view normals (3 ch in [-1, 1], zero off
   the face) + coverage mask (1 ch, {0, 1});
3. the flow's grid is resampled to r x r (:func:`core.render.flow.resize_grid`): its offset from
   the identity grid is resized (area / bilinear) and added to the r x r identity grid, so no
   motion stays exactly no motion;
4. :class:`~core.editing.gafet.engine.GafetEngine` renders. It re-encodes the source (E_a) and the
   reference (E_d, MFAT's reference side) only when their pixel values change, so a slider move
   runs only E_e, MFAT's query side and the decoder;
5. the (r, r) output is resampled back to R and composited into the source crop inside
   ``masks.face``: where that mask is 0 the result equals the source crop bit for bit.

Without a reference photo (an expression preset) the **source crop is used as the reference**:
the generator then takes the expression from the geometry image alone, and the reference stream
(E_d / MFAT) only sees the source's own texture.

An untrained (randomly initialised) checkpoint runs through exactly the same code; its face is
meaningless, but the shapes, caches and compositing are the real ones.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np
import torch

from core.editing.editor import EditGeometry, EditInputs, EditOutput
from core.editing.gafet.engine import EngineStats, GafetEngine, Precision
from core.nets.checkpoint import CheckpointConfigError, read_header
from core.nets.config import GafetConfig
from core.render.flow import resize_grid
from core.render.geometry_image import GEOMETRY_CHANNELS, geometry_image


class UnsupportedModelError(CheckpointConfigError):
    """A valid checkpoint whose model expects inputs this editor cannot produce."""


def check_model_config(config: GafetConfig, *, where: str = "This GaFET model") -> None:
    """Raise :class:`UnsupportedModelError` unless the editor can feed a model built from ``config``."""
    if config.geometry_channels != GEOMETRY_CHANNELS:
        raise UnsupportedModelError(
            f"{where} expects a geometry image with {config.geometry_channels} channels; GaFET Studio "
            f"renders {GEOMETRY_CHANNELS} (normal map + face mask).")


def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """(N, N, 3) uint8 or float [0, 255] -> (size, size, 3) float32 [0, 255] (area down, bicubic up)."""
    src = np.asarray(image, dtype=np.float32)
    if src.shape[0] == size and src.shape[1] == size:
        return np.array(src, copy=True)
    mode = cv2.INTER_AREA if size < src.shape[0] else cv2.INTER_CUBIC
    return np.clip(cv2.resize(src, (size, size), interpolation=mode), 0.0, 255.0)


def to_model_image(image: np.ndarray, size: int) -> torch.Tensor:
    """(N, N, 3) uint8 RGB -> (1, 3, size, size) float32 in [-1, 1]."""
    rgb = resize_rgb(image, size)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].div(127.5).sub(1.0).clamp(-1.0, 1.0)


class GafetEditor:
    """Editor protocol implementation (:class:`core.editing.editor.Editor`) backed by a GaFET
    generator. Build with :meth:`from_checkpoint` or around an existing engine.

    Thread-safe (edits are serialised; the engine itself is not thread-safe). The engine keeps
    the last source and reference encodings, so alternating between two sources re-encodes.
    """

    def __init__(self, *, engine: GafetEngine, name: str | None = None) -> None:
        check_model_config(engine.config)
        self._engine = engine
        self.name = name or f"GaFET ({engine.config.name})"
        self._lock = threading.Lock()
        self._faces_key: bytes | None = None
        self._faces_t: torch.Tensor | None = None

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: torch.device | str | None = None,
                        precision: Precision = "auto") -> GafetEditor:
        """Load ``path`` (verifying its digests). device None = CUDA when available, else CPU.

        Raises :class:`core.nets.checkpoint.CheckpointError` subclasses (missing, damaged, wrong
        format, config mismatch; :class:`UnsupportedModelError` for a model it cannot feed).
        """
        path = Path(path)
        check_model_config(read_header(path).config, where=str(path))  # before loading any weights
        engine = GafetEngine.from_checkpoint(path, device=device, precision=precision)
        return cls(engine=engine, name=editor_label(path, engine.config.name))

    def __repr__(self) -> str:
        engine = self._engine
        return f"GafetEditor(name={self.name!r}, device={engine.device}, precision={engine.precision})"

    @property
    def engine(self) -> GafetEngine:
        return self._engine

    @property
    def config(self) -> GafetConfig:
        return self._engine.config

    @property
    def resolution(self) -> int:
        """r: the side the model works at."""
        return self._engine.config.resolution

    @property
    def stats(self) -> EngineStats:
        """The engine's counters (source / reference encodes, decodes, precision fallbacks)."""
        return self._engine.stats

    def edit(self, inputs: EditInputs) -> EditOutput:
        """See :class:`core.editing.editor.Editor` and the module docstring.

        inputs.source_crop: (R, R, 3) uint8. inputs.flow: grid (1, R, R, 2). inputs.masks.face:
        (R, R) float32 [0, 1]. inputs.reference_crop: (R', R', 3) uint8 or None (the source is
        used). inputs.geometry: meshes in crop px. Returns the (R, R, 3) uint8 crop, equal to
        ``source_crop`` wherever ``masks.face`` is 0; no plain warp, no replaced mask (None).
        """
        size = inputs.check()
        source_crop = inputs.source_crop
        face = np.asarray(inputs.masks.face, dtype=np.float32)
        if face.shape != (size, size):
            raise ValueError(f"masks.face: expected ({size}, {size}), got {face.shape}")
        if not face.any():  # nothing may change (intensity 0): the model's output would be discarded
            return EditOutput(crop=np.array(source_crop, copy=True))
        generated = self.generate(inputs)
        src = source_crop.astype(np.float32)
        out = src + face[..., None] * (resize_rgb(generated, size) - src)
        return EditOutput(crop=np.clip(np.rint(out), 0, 255).astype(np.uint8))

    def generate(self, inputs: EditInputs) -> np.ndarray:
        """The generator's raw output for ``inputs`` (masks unused), not composited:
        (r, r, 3) float32 in [0, 255]."""
        r = self.resolution
        size = inputs.check()
        geometry = inputs.geometry
        device = self._engine.device
        source = to_model_image(inputs.source_crop, r)
        reference = source if inputs.reference_crop is None else to_model_image(inputs.reference_crop, r)
        screen = EditGeometry.screen(geometry.target).to(device) * (r / size)
        with self._lock:
            geo = geometry_image(screen, self._faces(geometry.faces, device), r)
            grid = resize_grid(inputs.flow.grid.to(device, torch.float32), r)
            result = self._engine(source, reference, geo, grid)
        image = result.image[0].permute(1, 2, 0).float().cpu().numpy()
        return np.clip((image + 1.0) * 127.5, 0.0, 255.0).astype(np.float32)

    def _faces(self, faces: np.ndarray, device: torch.device) -> torch.Tensor:
        key = faces.tobytes()
        if self._faces_t is None or key != self._faces_key:
            self._faces_t = torch.from_numpy(np.array(faces, dtype=np.int64)).to(device)
            self._faces_key = key
        return self._faces_t


def editor_label(path: str | os.PathLike[str], preset: str | None) -> str:
    """The selector label of a checkpoint: ``"GaFET: <file stem> (<preset name>)"``
    (``"GaFET: <file stem>"`` when the preset is unknown)."""
    stem = Path(path).stem
    return f"GaFET: {stem} ({preset})" if preset else f"GaFET: {stem}"
