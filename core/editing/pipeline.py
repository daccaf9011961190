"""The edit pipeline: prepare a source and a reference once, then render cheaply per slider move.

    pipe = EditPipeline(editor=WarpEditor(), crop_size=512)
    src = pipe.prepare_source(load_photo("me.jpg"))            # detect, mesh, align, fit (heavy)
    ref = pipe.prepare_reference(load_photo("smile.jpg"))      # the same for the reference
    result = pipe.render(src, ref, EditParams(alpha=0.7))     # interpolate -> flow -> editor -> paste

Heavy work is cached: the face analysis per photo (so picking another face of a group photo does
not re-detect), and the prepared source / reference per (photo file, modification time, face,
crop size), in small LRU caches. :meth:`render` only runs

1. **interpolate**: target AUs = the reference's (with the user's AU overrides); the mesh moves
   from the source's fitted expression towards them by ``alpha`` x the per-region weight of each
   vertex (the person's own landmarks plus the model's expression change, so ``alpha = 0`` is
   exactly the source);
2. **render**: the backward flow target -> source (attribute rasterization, core.render) and the
   crop masks;
3. **editor**: the edited crop (:class:`~core.editing.editor.Editor`); its
   :class:`~core.editing.editor.EditOutput` may also hold its plain flow warp and where it made
   new content (the warp editor does), which the detail-preserving paste-back uses;
4. **paste**: the crop back into the full-resolution photo, inside the crop's footprint only
   (``core.face.paste.paste_back``; for faces larger in the photo than the crop, a
   detail-preserving variant that warps the photo itself: :mod:`core.editing.photo_paste`).

Vertices in results are crop px with pixel centres at integers (``core.face.align``).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from core.editing.editor import EditGeometry, EditInputs, Editor, warp_crop
from core.editing.geometry_link import ExpressionFit, geometry_link
from core.editing.masks import build_masks
from core.editing.params import AU_NAMES, EditParams
from core.editing.photo_paste import paste_with_detail
from core.errors import GafetError
from core.face.align import AlignConfig, AlignedFace, align_face
from core.face.analyzer import FaceAnalyzer
from core.face.errors import FaceIndexError, NoFaceError
from core.face.paste import paste_back
from core.face.types import Face
from core.geometry.face_model import FaceParams
from core.io import Photo
from core.render.flow import FlowField, backward_flow, identity_grid

_CACHE_ENTRIES = 6
_DETAIL_PASTE_BELOW = 0.95  # aligned.scale below this (face larger in the photo than the crop): detail paste


class InvalidPresetError(GafetError):
    """An expression preset without usable AU values."""


@dataclass(frozen=True, eq=False)
class PreparedSource:
    """A source photo ready for rendering (see the module docstring).

    photo: the Photo. faces: every face found, left to right. face_index: the one edited.
    aligned: its AlignedFace (crop (R, R, 3) uint8, matrices).
    params: the fitted :class:`~core.geometry.face_model.FaceParams` (pose into crop px).
    fit: the same with the AUs as numpy and the pose unpacked (:class:`ExpressionFit`).
    vertices: (468, 3) float32 crop px, the face's own mesh (== aligned.landmarks).
    key: the cache key (photo file, mtime, face, crop size).
    """

    photo: Photo
    faces: tuple[Face, ...]
    face_index: int
    aligned: AlignedFace
    params: FaceParams
    fit: ExpressionFit
    vertices: np.ndarray
    key: tuple[Any, ...]


@dataclass(frozen=True, eq=False)
class PreparedReference:
    """An expression to transfer: a reference photo's face, or a preset.

    aus: (20,) float64 in [0, 1], the expression (order of ``params.AU_NAMES``).
    params: the fitted FaceParams of the reference face (None for a preset).
    aligned: the reference's AlignedFace (its crop feeds the mouth interior), None for a preset.
    vertices: (468, 3) float32 the reference's mesh in its crop px, None for a preset.
    faces / face_index / photo: as for the source (empty / 0 / None for a preset).
    name: a label (file name or preset name). key: the cache key.
    """

    aus: np.ndarray
    params: FaceParams | None
    aligned: AlignedFace | None
    vertices: np.ndarray | None
    faces: tuple[Face, ...]
    face_index: int
    photo: Photo | None
    name: str
    key: tuple[Any, ...]


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each step of one :meth:`EditPipeline.render`."""

    interpolate_ms: float
    render_ms: float
    editor_ms: float
    paste_ms: float
    total_ms: float


@dataclass(frozen=True, eq=False)
class EditResult:
    """One render.

    crop: (R, R, 3) uint8 the edited aligned crop. image: (H, W, 3) uint8 the full-resolution
    photo with the edit pasted back (read-only), or None when ``full_resolution=False``.
    source_vertices / target_vertices: (468, 3) float32 crop px of the source and edited face.
    reference_vertices: (468, 3) float32: the reference's mesh in its own crop px, or for a
    preset the source's mesh with the preset's expression at full intensity.
    faces: (F, 3) int64 triangles. target_aus: (20,) float64 the AUs shown at this intensity,
    ``source + alpha * (target - source)`` (regions ignored). timings: :class:`Timings`.
    editor_name: the editor's ``name``.
    """

    crop: np.ndarray
    image: np.ndarray | None
    source_vertices: np.ndarray
    reference_vertices: np.ndarray
    target_vertices: np.ndarray
    faces: np.ndarray
    target_aus: np.ndarray
    timings: Timings
    editor_name: str


def _photo_key(photo: Photo) -> tuple[Any, ...]:
    path = photo.source_path
    try:
        st = os.stat(path)
        stamp: Any = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = id(photo)  # not on disk any more: only this object is known to match
    return (str(path), stamp, photo.size)


_T = TypeVar("_T")


class _LRU(OrderedDict):
    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def get_or(self, key: Hashable, make: Callable[[], _T]) -> _T:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value


class EditPipeline:
    """Prepares sources and references (cached) and renders edits (see the module docstring).

    Construction loads the face networks and the face model (a few seconds, once per process:
    build it in a worker).
    """

    def __init__(self, *, editor: Editor, crop_size: int = 512, device: str = "cpu") -> None:
        if crop_size < 64 or crop_size > 2048:
            raise GafetError(f"The crop size must be between 64 and 2048 px, got {crop_size}.")
        self.editor = editor
        self.crop_size = int(crop_size)
        self.device = torch.device(device)
        self.align_config = AlignConfig(size=self.crop_size)
        self.geometry = geometry_link()
        self._faces_t = torch.as_tensor(self.geometry.faces, device=self.device)
        self._analyzer = FaceAnalyzer(device=self.device)  # loads the face networks (seconds, once)
        self._analyses = _LRU(_CACHE_ENTRIES)
        self._sources = _LRU(_CACHE_ENTRIES)
        self._references = _LRU(_CACHE_ENTRIES)
        self._changes = _LRU(4 * _CACHE_ENTRIES)

    @property
    def analyzer(self) -> FaceAnalyzer:
        return self._analyzer

    # --- preparation (heavy, cached) ---------------------------------------------------------

    def analyze(self, photo: Photo) -> tuple[Face, ...]:
        """Every face of ``photo``, left to right (cached per photo file and modification time)."""
        return self._analyses.get_or(
            _photo_key(photo), lambda: tuple(self.analyzer.analyze(np.asarray(photo.rgb))))

    def _face(self, photo: Photo, face_index: int) -> tuple[tuple[Face, ...], Face]:
        faces = self.analyze(photo)
        name = photo.source_path.name
        if not faces:
            raise NoFaceError(f"No face was found in '{name}'. Try a photo where the face is larger, "
                              "lit from the front and not covered.")
        if not 0 <= face_index < len(faces):
            raise FaceIndexError(f"'{name}' has {len(faces)} face{'s' if len(faces) != 1 else ''}; face "
                                 f"{face_index} does not exist (use 0 to {len(faces) - 1}, left to right).")
        return faces, faces[face_index]

    def prepare_source(self, photo: Photo, *, face_index: int = 0) -> PreparedSource:
        """Analyse, align and fit one face of ``photo`` (cached). Raises NoFaceError / FaceIndexError."""
        key = (_photo_key(photo), face_index, self.crop_size)

        def make() -> PreparedSource:
            faces, face = self._face(photo, face_index)
            aligned = align_face(np.asarray(photo.rgb), face.landmarks, self.align_config)
            fit = self.geometry.fit(aligned.landmarks)
            return PreparedSource(photo=photo, faces=faces, face_index=face_index, aligned=aligned,
                                  params=fit.params, fit=fit, vertices=aligned.landmarks, key=key)

        return self._sources.get_or(key, make)

    def prepare_reference(self, photo: Photo, *, face_index: int = 0) -> PreparedReference:
        """Analyse, align and fit the reference face (cached). Raises NoFaceError / FaceIndexError."""
        key = ("photo", _photo_key(photo), face_index, self.crop_size)

        def make() -> PreparedReference:
            faces, face = self._face(photo, face_index)
            aligned = align_face(np.asarray(photo.rgb), face.landmarks, self.align_config)
            fit = self.geometry.fit(aligned.landmarks)
            return PreparedReference(aus=fit.aus, params=fit.params, aligned=aligned,
                                     vertices=aligned.landmarks, faces=faces, face_index=face_index,
                                     photo=photo, name=photo.source_path.name, key=key)

        return self._references.get_or(key, make)

    def prepare_preset(self, preset: object) -> PreparedReference:
        """An expression preset as the reference: a :class:`core.geometry.presets.ExpressionPreset`,
        or anything with ``aus`` (a mapping {"AU12": 0.8, ...}, missing AUs = 0, or a (20,) array
        in AU order) and optionally ``name``; a bare mapping works too."""
        aus = preset_aus(preset)
        name = str(getattr(preset, "name", "") or "preset")
        return PreparedReference(aus=aus, params=None, aligned=None, vertices=None, faces=(), face_index=0,
                                 photo=None, name=name, key=("preset", name, aus.tobytes()))

    def forget_sources(self) -> None:
        """Drop cached sources and analyses (batch runs call this after each file)."""
        self._sources.clear()
        self._analyses.clear()
        self._changes.clear()

    # --- rendering (cheap) -------------------------------------------------------------------

    def target_aus(self, reference: PreparedReference, params: EditParams) -> np.ndarray:
        """(20,) the reference's AUs with ``params.au_overrides`` applied."""
        return self.geometry.target_aus(reference.aus, dict(params.au_overrides))

    def target_vertices(self, source: PreparedSource, reference: PreparedReference,
                        params: EditParams) -> np.ndarray:
        """(468, 3) float32 crop px: the source mesh moved towards the target expression."""
        change = self._change(source, self.target_aus(reference, params))
        alpha_v = self.geometry.vertex_weights(params.alpha, params.region_weights())
        return self.geometry.interpolate(source.vertices, change, alpha_v)

    def _change(self, source: PreparedSource, aus: np.ndarray) -> np.ndarray:
        """The full-intensity mesh change towards ``aus`` (cached: it only changes with the
        reference or an AU override, not with the intensity or the region sliders)."""
        key = (source.key, aus.tobytes())
        return self._changes.get_or(key, lambda: self.geometry.expression_change(source.fit, aus))

    def render(self, source: PreparedSource, reference: PreparedReference, params: EditParams, *,
               full_resolution: bool = True) -> EditResult:
        """Edit ``source`` towards ``reference`` at ``params`` (see the module docstring)."""
        t0 = time.perf_counter()
        size = self.crop_size
        target = self.target_vertices(source, reference, params)
        goal = self.target_aus(reference, params)
        shown = source.fit.aus + params.alpha * (goal - source.fit.aus)
        geometry = EditGeometry(
            faces=self.geometry.faces, source=source.vertices, target=target, reference=reference.vertices,
            mouth_faces=self.geometry.mouth_faces, eye_faces=self.geometry.eye_faces, size=size)
        t1 = time.perf_counter()

        flow = self._flow(source.vertices, target)
        displacement = flow.displacement[0].cpu().numpy()
        masks = build_masks(geometry, displacement)
        t2 = time.perf_counter()

        reference_crop = reference.aligned.crop if reference.aligned is not None else None
        edit = self.editor.edit(EditInputs(source_crop=source.aligned.crop, flow=flow, masks=masks,
                                           reference_crop=reference_crop, geometry=geometry))
        crop = edit.crop
        if crop.shape != (size, size, 3) or crop.dtype != np.uint8:
            raise ValueError(f"editor {self.editor.name!r} returned {crop.dtype} {crop.shape}, "
                             f"expected ({size}, {size}, 3) uint8")
        t3 = time.perf_counter()

        image = None
        if full_resolution:
            image = self._paste(source, crop, flow, displacement, masks.face, edit.warped, edit.replaced)
            image.setflags(write=False)
        t4 = time.perf_counter()

        if reference.vertices is not None:
            ref_verts = reference.vertices
        else:
            full = self._change(source, goal)
            ref_verts = (source.vertices + full).astype(np.float32)
        ms = lambda a, b: (b - a) * 1e3  # noqa: E731
        return EditResult(
            crop=crop, image=image, source_vertices=source.vertices, reference_vertices=ref_verts,
            target_vertices=target, faces=self.geometry.faces, target_aus=shown,
            timings=Timings(ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4), ms(t0, t4)),
            editor_name=self.editor.name)

    def _flow(self, source: np.ndarray, target: np.ndarray) -> FlowField:
        size = self.crop_size
        if np.array_equal(source, target):  # intensity 0: the identity, no rasterization
            grid = identity_grid(size, size, device=self.device)
            zeros = torch.zeros(1, size, size, 2, device=self.device)
            return FlowField(grid=grid, displacement=zeros, mask=zeros[..., 0])
        tgt = EditGeometry.screen(target).to(self.device)
        src = EditGeometry.screen(source)[..., :2].to(self.device)
        return backward_flow(tgt, src, self._faces_t, (size, size))

    def _paste(self, source: PreparedSource, crop: np.ndarray, flow: FlowField, displacement: np.ndarray,
               mask: np.ndarray, warped: np.ndarray | None, replaced: np.ndarray | None) -> np.ndarray:
        rgb = np.asarray(source.photo.rgb)
        if not mask.any():
            return np.array(rgb, copy=True)
        aligned = source.aligned
        if aligned.scale < _DETAIL_PASTE_BELOW:
            if warped is None:  # the editor did not make the plain warp (a generator)
                warped = warp_crop(aligned.crop, flow)
            return paste_with_detail(photo=rgb, aligned=aligned, edited=crop, warped=warped,
                                     displacement=displacement, mask=mask, replaced=replaced)
        return paste_back(rgb, aligned, crop, mask=mask)


def preset_aus(preset: object) -> np.ndarray:
    """(20,) float64 AU vector of a preset-like object (see :meth:`EditPipeline.prepare_preset`)."""
    raw = getattr(preset, "aus", preset)
    if isinstance(raw, Mapping):
        from core.editing.params import normalize_au_name

        aus = np.zeros(len(AU_NAMES))
        for name, value in raw.items():
            aus[AU_NAMES.index(normalize_au_name(name))] = float(value)
    else:
        aus = np.asarray(raw, dtype=np.float64).reshape(-1)
    if aus.shape != (len(AU_NAMES),) or not np.isfinite(aus).all() or aus.min() < 0 or aus.max() > 1:
        raise InvalidPresetError(f"An expression preset needs {len(AU_NAMES)} AU values in [0, 1]; "
                                 f"got {np.shape(raw)} values.")
    return aus
