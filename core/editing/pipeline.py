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
2. **render**: the backward flow target -> source (:mod:`core.editing.face_flow`: attribute
   rasterization of the untangled target mesh, the identity outside the face) and the crop masks
   (the region it may change, feathered inside);
3. **editor**: the edited crop (:class:`~core.editing.editor.Editor`); its
   :class:`~core.editing.editor.EditOutput` may also hold its plain flow warp, where it made
   new content and the displacement it really used (the warp editor does);
4. **paste**: into the full-resolution photo (:mod:`core.editing.photo_paste`): the photo's own
   pixels resampled once through the flow, the made content from the crop, inside the region
   only (``EditResult.region``; outside it the photo is unchanged, bit for bit).

While a slider moves, an interactive caller can draw the live path instead
(:mod:`core.editing.fast_path`: :meth:`EditPipeline.live_view` once per source and view size,
:meth:`EditPipeline.live_target` per move, from a thread of its own) and this render once it rests.

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

from core.editing.editor import EditGeometry, EditInputs, Editor, EditOutput, warp_crop
from core.editing.face_flow import FaceFlow, face_flow, flow_from_displacement
from core.editing.fast_path import LiveConfig, LiveView
from core.editing.geometry_link import ExpressionFit, geometry_link
from core.editing.masks import build_masks
from core.editing.params import AU_NAMES, EditParams
from core.editing.photo_paste import PhotoPaste, paste_with_detail
from core.errors import GafetError
from core.face.align import AlignConfig, AlignedFace, align_face
from core.face.analyzer import FaceAnalyzer
from core.face.errors import FaceIndexError, NoFaceError
from core.face.types import Face
from core.geometry.face_model import FaceParams
from core.io import Photo
from core.render.flow import FlowField

_CACHE_ENTRIES = 6
_LIVE = LiveConfig()


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
    region: (H, W) bool, read-only: the photo pixels the edit may change (the edit's face region,
        :mod:`core.editing.face_flow`, in the photo); ``image`` equals the source photo bit for bit
        everywhere else. None when ``full_resolution=False``.
    crop_region: (R, R) float32 {0, 1}: the same in the crop (``EditMasks.region``).
    crop_replaced: (R, R) float32 [0, 1]: where ``crop`` holds made content (the editor's
        ``EditOutput.replaced``; the live path carries it over, :mod:`core.editing.fast_path`), or
        None when the editor does not say.
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
    region: np.ndarray | None = None
    crop_region: np.ndarray | None = None
    crop_replaced: np.ndarray | None = None


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
        self._analyzer = FaceAnalyzer(device=self.device)  # loads the face networks (seconds, once)
        self._analyses = _LRU(_CACHE_ENTRIES)
        self._sources = _LRU(_CACHE_ENTRIES)
        self._references = _LRU(_CACHE_ENTRIES)
        self._changes = _LRU(4 * _CACHE_ENTRIES)
        # the live path's own caches (its thread only: see live_target)
        self._live_changes = _LRU(4 * _CACHE_ENTRIES)
        self._live_weights = _LRU(4 * _CACHE_ENTRIES)

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

    def target_aus(self, reference: PreparedReference, params: EditParams,
                   source: PreparedSource | None = None) -> np.ndarray:
        """(20,) the target AUs with ``params.au_overrides`` applied: a photo reference's own
        readings; a preset's AUs on top of ``source``'s single-photo neutral
        (:meth:`~core.editing.geometry_link.GeometryLink.preset_target`; the bare preset without a
        source)."""
        aus = reference.aus
        if reference.params is None and source is not None:  # a preset
            aus = self.geometry.preset_target(source.fit, aus)
        return self.geometry.target_aus(aus, dict(params.au_overrides))

    def target_vertices(self, source: PreparedSource, reference: PreparedReference,
                        params: EditParams) -> np.ndarray:
        """(468, 3) float32 crop px: the source mesh moved towards the target expression."""
        change = self._change(source, reference, params)
        alpha_v = self.geometry.vertex_weights(params.alpha, params.region_weights())
        return self.geometry.interpolate(source.vertices, change, alpha_v)

    def _change(self, source: PreparedSource, reference: PreparedReference, params: EditParams) -> np.ndarray:
        """The full-intensity mesh change towards the target (its AUs and mouth aperture,
        :class:`~core.editing.geometry_link.GeometryLink`; cached: it only changes with the reference
        or an AU override, not with the intensity or the region sliders)."""
        aus = self.target_aus(reference, params, source)
        overrides = dict(params.au_overrides)
        key = (source.key, reference.key, aus.tobytes(), tuple(sorted(overrides)))

        def make() -> np.ndarray:
            goal = self.geometry.mouth_goal(source.fit, aus, reference.vertices, overrides)
            return self.geometry.expression_change(source.fit, aus, goal)

        return self._changes.get_or(key, make)

    def render(self, source: PreparedSource, reference: PreparedReference, params: EditParams, *,
               full_resolution: bool = True) -> EditResult:
        """Edit ``source`` towards ``reference`` at ``params`` (see the module docstring)."""
        t0 = time.perf_counter()
        size = self.crop_size
        target = self.target_vertices(source, reference, params)
        goal = self.target_aus(reference, params, source)
        shown = source.fit.aus + params.alpha * (goal - source.fit.aus)
        t1 = time.perf_counter()

        moved = self._flow(source.vertices, target)
        target, flow = moved.target, moved.flow  # the target untangled (no folds)
        geometry = EditGeometry(
            faces=self.geometry.faces, source=source.vertices, target=target, reference=reference.vertices,
            mouth_faces=self.geometry.mouth_faces, eye_faces=self.geometry.eye_faces, size=size)
        displacement = flow.displacement[0].cpu().numpy()
        masks = build_masks(geometry, displacement, moved.region)
        t2 = time.perf_counter()

        reference_crop = reference.aligned.crop if reference.aligned is not None else None
        edit = self.editor.edit(EditInputs(source_crop=source.aligned.crop, flow=flow, masks=masks,
                                           reference_crop=reference_crop, geometry=geometry))
        crop = edit.crop
        if crop.shape != (size, size, 3) or crop.dtype != np.uint8:
            raise ValueError(f"editor {self.editor.name!r} returned {crop.dtype} {crop.shape}, "
                             f"expected ({size}, {size}, 3) uint8")
        t3 = time.perf_counter()

        image = region = None
        if full_resolution:
            image, region = self._paste(source, crop, flow, edit, masks.face)
            image.setflags(write=False)
            region.setflags(write=False)
        t4 = time.perf_counter()

        if reference.vertices is not None:
            ref_verts = reference.vertices
        else:
            full = self._change(source, reference, params)
            ref_verts = (source.vertices + full).astype(np.float32)
        ms = lambda a, b: (b - a) * 1e3  # noqa: E731
        return EditResult(
            crop=crop, image=image, source_vertices=source.vertices, reference_vertices=ref_verts,
            target_vertices=target, faces=self.geometry.faces, target_aus=shown,
            timings=Timings(ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4), ms(t0, t4)),
            editor_name=self.editor.name, region=region, crop_region=masks.region,
            crop_replaced=edit.replaced)

    def live_target(self, source: PreparedSource, reference: PreparedReference,
                    params: EditParams) -> np.ndarray:
        """(468, 3) float32 crop px: :meth:`target_vertices` without the pipeline's caches, so the
        live path (:mod:`core.editing.fast_path`) may call it from its own thread."""
        aus = self.target_aus(reference, params, source)
        overrides = dict(params.au_overrides)
        key = (source.key, reference.key, aus.tobytes(), tuple(sorted(overrides)))

        def change() -> np.ndarray:
            goal = self.geometry.mouth_goal(source.fit, aus, reference.vertices, overrides)
            return self.geometry.expression_change(source.fit, aus, goal)

        weights = self._live_weights.get_or(
            params.regions, lambda: self.geometry.vertex_weights(1.0, params.region_weights()))
        return self.geometry.interpolate(source.vertices, self._live_changes.get_or(key, change),
                                         params.alpha * weights)

    def live_view(self, source: PreparedSource, view_size: tuple[int, int],
                  config: LiveConfig = _LIVE) -> LiveView:
        """The live path of ``source`` for a view of ``view_size`` (w, h) px (not cached; any thread)."""
        return LiveView(photo=np.asarray(source.photo.rgb), aligned=source.aligned, source=source.vertices,
                        faces=self.geometry.faces, skip=self._skip(), view_size=view_size, config=config)

    def _skip(self) -> np.ndarray:
        """(F,) bool: the triangles untangling does not check (the mouth and eye openings)."""
        skip = np.zeros(len(self.geometry.faces), bool)
        skip[np.concatenate([self.geometry.mouth_faces, *self.geometry.eye_faces])] = True
        return skip

    def _flow(self, source: np.ndarray, target: np.ndarray) -> FaceFlow:
        """The edit's fold-free flow, the identity outside the face, and its region
        (:func:`core.editing.face_flow.face_flow`); intensity 0 is the identity, no rasterization."""
        return face_flow(source, target, self.geometry.faces, self.crop_size, skip=self._skip(),
                         device=self.device)

    def _paste(self, source: PreparedSource, crop: np.ndarray, flow: FlowField, edit: EditOutput,
               mask: np.ndarray) -> PhotoPaste:
        """The edit in the full-resolution photo: the photo's own pixels warped once, the made
        content from the crop (:mod:`core.editing.photo_paste`), for faces of any size."""
        rgb = np.asarray(source.photo.rgb)
        if not mask.any():
            return PhotoPaste(np.array(rgb, copy=True), np.zeros(rgb.shape[:2], bool))
        displacement = edit.displacement
        if displacement is None:
            displacement = flow.displacement[0].cpu().numpy()
        warped = edit.warped
        if edit.replaced is None and warped is None:  # a generator: its change is added to the warped photo
            warped = warp_crop(source.aligned.crop, flow_from_displacement(displacement))
        return paste_with_detail(photo=rgb, aligned=source.aligned, edited=crop, displacement=displacement,
                                 mask=mask, replaced=edit.replaced, warped=warped)


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
