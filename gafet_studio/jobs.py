"""Worker bodies of the engine that need no Qt state: the shared pipeline, export, presets.

Everything here runs in a pool thread (the pipeline pool for anything touching the shared
pipeline) and returns plain values; errors propagate to the worker's ``errored`` signal.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from core.editing.params import EditParams
from core.editing.spec import EditorSpec, build_editor
from core.errors import GafetError

if TYPE_CHECKING:
    from core.editing.pipeline import EditPipeline, PreparedReference, PreparedSource
    from core.face.types import Face

ExportScope = Literal["photo", "crop"]  # the full-resolution photo, or the aligned face crop
EXPORT_SCOPES: tuple[ExportScope, ...] = get_args(ExportScope)


@dataclass(frozen=True)
class ExportRequest:
    path: Path
    quality: int = 95
    scope: ExportScope = "photo"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.scope not in EXPORT_SCOPES:
            raise ValueError(f"unknown export scope {self.scope!r}; expected one of {EXPORT_SCOPES}")


@dataclass(frozen=True)
class ExportProgress:
    """fraction: 0..1 of the export done; text: the step under way."""

    fraction: float
    text: str


class ExportCancelled(GafetError):
    """The user cancelled an export; nothing was written."""


def face_box(face: Face) -> tuple[float, float, float, float]:
    """A detected face's box (x0, y0, x1, y1) in photo px (its detection's ``box``)."""
    x0, y0, x1, y1 = (float(v) for v in face.detection.box)
    return x0, y0, x1, y1


def describe_error(exc: BaseException) -> str:
    """A message for the banner: a GafetError's own text, anything else marked as unexpected."""
    if isinstance(exc, GafetError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Not enough memory for this photo; close other programs or use a smaller photo."
    return f"Unexpected error ({type(exc).__name__}: {exc}). The previous state was kept."


_PIPELINES: dict[int, EditPipeline] = {}  # crop size -> the base pipeline (warp editor)


def built_pipeline(crop_size: int) -> EditPipeline | None:
    """The base pipeline of ``crop_size`` if it has been built, else None (never builds it).

    Any thread may read its immutable parts (the face model's triangles, ``geometry.faces``).
    """
    return _PIPELINES.get(crop_size)


def base_pipeline(crop_size: int) -> EditPipeline:
    """One EditPipeline per crop size per process (built on first use: it loads the face networks).

    Only the pipeline pool's single thread calls this, so the pipelines and their caches (prepared
    sources and references) are never touched by two threads at once.
    """
    pipe = _PIPELINES.get(crop_size)
    if pipe is None:
        from core.editing.pipeline import EditPipeline
        from core.editing.warp.editor import WarpEditor

        pipe = EditPipeline(editor=WarpEditor(), crop_size=crop_size, device="cpu")
        _PIPELINES[crop_size] = pipe
    return pipe


def shared_pipeline(editor: EditorSpec, crop_size: int) -> EditPipeline:
    """The pipeline of ``crop_size`` rendering with ``editor`` (pipeline pool only).

    Every editor shares the base pipeline's face networks and caches: a GaFET editor gets a
    shallow copy whose ``editor`` is the checkpoint's (loaded through the registry's cache, so
    the first call for a checkpoint takes as long as loading it; a changed file is loaded afresh).
    Raises the checkpoint errors of :func:`core.editing.spec.build_editor`.
    """
    base = base_pipeline(crop_size)
    if editor.is_warp:
        return base
    pipe = copy.copy(base)
    pipe.editor = build_editor(editor)
    return pipe


def export_job(
    source: PreparedSource,
    reference: PreparedReference,
    params: EditParams,
    editor: EditorSpec,
    crop_size: int,
    request: ExportRequest,
    protect: list[Path],
    cancel: threading.Event | None = None,
    progress: Callable[[ExportProgress], None] | None = None,
) -> Path:
    """Render at full resolution (never a proxy) and save atomically; returns the path written.

    source / reference: the pipeline's PreparedSource / PreparedReference. scope 'photo' keeps
    the photo's ICC profile and EXIF; 'crop' writes the aligned crop (profile only).
    progress: told each step (:class:`ExportProgress`). cancel: once set, the export stops at the
    next step (after the render, after encoding: the file is never committed) with
    :class:`ExportCancelled`.
    """
    from core.io.save import output_format, save_image

    report = progress or (lambda _: None)

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise ExportCancelled(f"The export to '{request.path.name}' was cancelled; nothing was written.")

    check()
    report(ExportProgress(0.05, "Rendering at full resolution…"))
    result = shared_pipeline(editor, crop_size).render(
        source, reference, params, full_resolution=request.scope == "photo"
    )
    check()
    photo = source.photo
    if request.scope == "photo":
        assert result.image is not None  # rendered with full_resolution=True
        rgb, icc, exif = result.image, photo.icc_profile, photo.exif
    else:
        rgb, icc, exif = result.crop, photo.icc_profile, None
    report(ExportProgress(0.5, f"Encoding the {output_format(request.path)} file…"))
    path = save_image(
        request.path,
        np.ascontiguousarray(rgb),
        icc_profile=icc,
        exif=exif,
        quality=request.quality,
        overwrite=request.overwrite,
        protect=protect,
        before_commit=check,
    )
    report(ExportProgress(1.0, "Exported."))
    return path


def save_preset_job(name: str, folder: Path, aus: np.ndarray, overwrite: bool) -> Path:
    """Write the AUs (20,) as the JSON expression preset ``name`` in ``folder``."""
    from core.editing.params import AU_NAMES
    from core.geometry.presets import ExpressionPreset, save_preset

    values = {au: round(float(min(1.0, max(0.0, v))), 4) for au, v in zip(AU_NAMES, aus, strict=True)}
    preset = ExpressionPreset(
        name=name, aus={au: v for au, v in values.items() if v > 0}, description="Saved from GaFET Studio"
    )
    return save_preset(preset, folder, overwrite=overwrite)
