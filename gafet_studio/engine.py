"""The Studio's engine: runs the edit pipeline in workers and hands finished states back.

Everything heavy happens here, off the GUI thread: loading and preparing the source and the
reference (face detection, mesh, fit), rendering (coalesced: latest wins), exporting, saving
presets, listing the editors and loading a GaFET checkpoint (on the side pool, latest wins, so
the current editor keeps rendering while a model loads). The pipeline lives in
:func:`gafet_studio.workers.studio_pool`'s single thread, with one exception: once the networks
are built, references are prepared on the side pool (a source and a reference dropped together
are analysed at once, on two cores); that touches only the base pipeline's analyses and
references, never a render's state.
Finished renders are cached by ``(source, reference, editor, params)`` so undo/redo shows a known
result at once.

Slider moves with the warp editor take the **live path** first (:mod:`core.editing.fast_path`, in
its own one-thread pool, latest wins): a picture at the view's resolution in milliseconds, shown
as a preview; the exact full-resolution render follows once the sliders rest for
:data:`REFINE_DELAY_MS`, and its made content (a filled mouth) is carried into later live frames.
A GaFET editor keeps the proxy preview (:mod:`gafet_studio.proxy`). A new source's live view
(its photo at display size) is made on the live thread as soon as the source is ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage

from core.editing.params import EditParams
from core.editing.spec import EditorSpec
from core.errors import GafetError
from gafet_studio import editors
from gafet_studio.image_convert import (
    patched_display_qimage,
    thumbnail,
    to_display_qimage,
    to_qimage,
    wrap_bgra,
)
from gafet_studio.jobs import (
    ExportCancelled,
    ExportRequest,
    base_pipeline,
    built_pipeline,
    describe_error,
    export_job,
    face_box,
    save_preset_job,
    shared_pipeline,
)
from gafet_studio.proxy import PROXY_PIXELS, make_proxy
from gafet_studio.session import NoticeLevel, ReferenceState, Rendered, Session, SourceState, Task
from gafet_studio.workers import (
    FunctionWorker,
    LatestWins,
    all_pools,
    aux_pool,
    live_pool,
    studio_pool,
    traceback_text,
)

if TYPE_CHECKING:
    from core.editing.fast_path import LiveAnchor, LiveView
    from core.editing.pipeline import EditPipeline, PreparedSource, Timings
    from core.io.photo import Photo

RenderKey = tuple[int, int, EditorSpec, EditParams]  # source key, reference key, editor, params

log = logging.getLogger(__name__)

CACHE_BYTES = 400 * 2**20  # finished renders kept for undo/redo
REFINE_DELAY_MS = 150  # sliders at rest this long: replace the preview by the full render
VIEW_SIZE = (1280, 800)  # the result view's size (px) until the window tells (set_view_size)


@dataclass(frozen=True, eq=False)
class LiveResult:
    """A live-path picture, shown like an ``EditResult`` (the fields the window reads).

    image: (h, w, 4) uint8 BGRA, the photo at the view's resolution with the edit (h, w: the photo
    fitted into the view). source_vertices / reference_vertices / target_vertices: (468, 3) float32
    crop px. faces: (F, 3). target_aus: (20,) the AUs shown. timings: where the time went
    (``render_ms``: the flow, ``paste_ms``: the display composite). editor_name: the warp editor's.
    cpu_ms: the worker thread's CPU time for it (what it costs on an idle machine).
    crop and region: None (the live path makes neither).
    """

    image: np.ndarray
    source_vertices: np.ndarray
    reference_vertices: np.ndarray
    target_vertices: np.ndarray
    faces: np.ndarray
    target_aus: np.ndarray
    timings: Timings
    editor_name: str
    cpu_ms: float = 0.0
    crop: None = None
    region: None = None


class Engine(QObject):
    sourceReady = Signal(object)  # SourceState
    referenceReady = Signal(object)  # ReferenceState
    exported = Signal(object)  # Path written
    exportProgress = Signal(object)  # ExportProgress of the running export
    presetSaved = Signal(object)  # Path written
    editorsListed = Signal(object)  # list[SelectorEntry]: the selector's entries
    editorLoaded = Signal(object)  # SelectorEntry: a checkpoint loaded and ready to render
    failed = Signal(object, object)  # Task, exception (the session is also notified)

    def __init__(self, session: Session, *, crop_size: int = 512, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.crop_size = crop_size
        self._cache: OrderedDict[RenderKey, Rendered] = OrderedDict()
        self._cache_bytes = 0
        self._source_runner = LatestWins(parent=self)
        self._reference_runner = LatestWins(self._reference_pool, parent=self)
        self._render_runner = LatestWins(parent=self)
        self._live_runner = LatestWins(live_pool, parent=self)
        self._live_runner.returned.connect(self._on_live)
        self._live_runner.errored.connect(self._on_live_error)
        self._live_runner.idle.connect(self._render_idle)
        self._live_views: OrderedDict[tuple[int, tuple[int, int]], LiveView] = OrderedDict()  # live thread
        self._anchors: OrderedDict[tuple[int, int], LiveAnchor] = OrderedDict()  # GUI thread
        self._view_size = VIEW_SIZE
        self._export_cancel: threading.Event | None = None
        self._editor_runner = LatestWins(aux_pool, parent=self)
        self._editor_runner.returned.connect(self._on_editor_loaded)
        self._editor_runner.errored.connect(self._on_editor_error)
        self._editor_runner.idle.connect(lambda: self.session.set_busy(Task.MODEL, False))
        self._source_runner.returned.connect(self._on_source)
        self._source_runner.errored.connect(lambda g, e: self._on_error(Task.SOURCE, g, e))
        self._reference_runner.returned.connect(self._on_reference)
        self._reference_runner.errored.connect(lambda g, e: self._on_error(Task.REFERENCE, g, e))
        self._render_runner.returned.connect(self._on_rendered)
        self._render_runner.errored.connect(lambda g, e: self._on_error(Task.RENDER, g, e))
        for task, runner in ((Task.SOURCE, self._source_runner), (Task.REFERENCE, self._reference_runner)):
            runner.idle.connect(lambda t=task: self.session.set_busy(t, False))
        # source key -> its preview proxy, None for a photo small enough (pool thread only)
        self._proxies: dict[int, PreparedSource | None] = {}
        self._refine_timer = QTimer(self)
        self._refine_timer.setSingleShot(True)
        self._refine_timer.setInterval(REFINE_DELAY_MS)
        self._refine_timer.timeout.connect(self._refine)
        self._render_runner.idle.connect(self._render_idle)
        session.sourceChanged.connect(self.schedule_render)
        session.referenceChanged.connect(self.schedule_render)
        session.paramsChanged.connect(self.schedule_render)
        session.editorChanged.connect(self.schedule_render)

    # -- the pipeline (pool thread only) ---------------------------------------------------------
    def pipeline(self, editor: EditorSpec | None = None) -> EditPipeline:
        """The EditPipeline for ``editor`` (default: the session's; pool thread only: it may load
        networks on first use)."""
        return shared_pipeline(editor or self.session.editor, self.crop_size)

    def warm_up(self) -> None:
        """Build the pipeline in the background, so the first drop is quicker."""
        self._start(Task.WARMUP, base_pipeline, self.crop_size)

    # -- editors -----------------------------------------------------------------------------
    def list_editors(self, folder: Path, extra: tuple[Path, ...] = ()) -> None:
        """List the warp editor, ``folder``'s checkpoints and ``extra`` ones (reads headers: a
        worker job); emits :attr:`editorsListed`."""
        self._start(
            Task.MODELS,
            editors.list_editors,
            folder,
            tuple(extra),
            on_done=self.editorsListed.emit,
            pool=aux_pool(),
        )

    def load_editor(self, spec: EditorSpec) -> int:
        """Load ``spec``'s editor in a worker (latest wins); emits :attr:`editorLoaded` with its
        entry, or reports the error (the session keeps its editor)."""
        self.session.set_busy(Task.MODEL, True)
        return self._editor_runner.request(editors.load, spec)

    def _on_editor_loaded(self, gen: int, entry: editors.SelectorEntry) -> None:
        if gen == self._editor_runner.latest():
            self.editorLoaded.emit(entry)

    def _on_editor_error(self, gen: int, exc: BaseException) -> None:
        if gen != self._editor_runner.latest():  # the user has chosen another editor since
            log.info("superseded model load failed: %s", exc)
            return
        if not isinstance(exc, GafetError):
            log.error("model failed:\n%s", traceback_text(exc))
        self.failed.emit(Task.MODEL, exc)
        self.session.notify(
            NoticeLevel.ERROR,
            f"The model could not be loaded: {describe_error(exc)} "
            f"The editor stays '{self.session.editor_label()}'.",
        )

    # -- sources and references --------------------------------------------------------------
    def load_source(self, path: str | Path, face_index: int = 0) -> int:
        self.session.set_busy(Task.SOURCE, True)
        return self._source_runner.request(self._prepare_source_job, Path(path), None, face_index)

    def select_face(self, face_index: int) -> int | None:
        src = self.session.source
        if src is None or face_index == src.face_index or not 0 <= face_index < len(src.boxes):
            return None
        self.session.set_busy(Task.SOURCE, True)
        return self._source_runner.request(self._prepare_source_job, src.path, src.prepared.photo, face_index)

    def load_reference(self, path: str | Path, face_index: int = 0) -> int:
        self.session.set_busy(Task.REFERENCE, True)
        return self._reference_runner.request(self._prepare_reference_job, Path(path), face_index, None)

    def select_reference_face(self, face_index: int) -> int | None:
        ref = self.session.reference
        if (
            ref is None
            or ref.kind != "photo"
            or ref.path is None
            or face_index == ref.face_index
            or not 0 <= face_index < len(ref.boxes)
        ):
            return None
        self.session.set_busy(Task.REFERENCE, True)
        return self._reference_runner.request(
            self._prepare_reference_job, ref.path, face_index, ref.prepared.photo
        )

    def mesh_faces(self) -> np.ndarray | None:
        """The face model's triangles (F, 3), once a pipeline exists (read-only data: any thread)."""
        pipe = built_pipeline(self.crop_size)
        return None if pipe is None else np.asarray(pipe.geometry.faces)

    def load_preset(self, path: str | Path) -> int:
        self.session.set_busy(Task.REFERENCE, True)
        return self._reference_runner.request(self._prepare_preset_job, Path(path))

    def _prepare_source_job(self, path: Path, photo: Photo | None, face_index: int) -> SourceState:
        from core.editing.fast_path import display_photo
        from core.io import photo as photo_io

        if photo is None:
            photo = photo_io.load_photo(path)
        # the photo's display conversions (a few hundred ms at 24 MP, outside the GIL) run beside
        # the face analysis: the QImage the window shows and the live view's display-size copy
        shown: list[QImage] = []
        view_size = self._view_size

        def convert() -> None:
            shown.append(to_display_qimage(photo.rgb))
            display_photo(np.asarray(photo.rgb), view_size)

        side = threading.Thread(target=convert, name="gafet-source-display", daemon=True)
        side.start()
        try:
            prepared = self.pipeline().prepare_source(photo, face_index=face_index)
        finally:
            side.join()
        boxes = tuple(face_box(f) for f in prepared.faces)
        thumbs = tuple(to_qimage(thumbnail(photo.rgb, b)) for b in boxes) if len(boxes) > 1 else ()
        return SourceState(
            path=path,
            prepared=prepared,
            image=shown[0] if shown else to_display_qimage(photo.rgb),
            boxes=boxes,
            thumbs=thumbs,
            face_index=face_index,
        )

    def _reference_pool(self) -> QThreadPool:
        """Where reference jobs run: beside the pipeline's thread once the networks are built (a
        source and a reference dropped together are analysed at once, on two cores), on it before
        (so the pipeline is built once)."""
        return aux_pool() if built_pipeline(self.crop_size) is not None else studio_pool()

    def _prepare_reference_job(self, path: Path, face_index: int, photo: Photo | None) -> ReferenceState:
        from core.io import photo as photo_io

        if photo is None:
            photo = photo_io.load_photo(path)
        # preparing is the base pipeline's work whatever the editor (the editors share its
        # networks and caches); on the side pool only the base one may be touched (never built)
        prepared = (built_pipeline(self.crop_size) or self.pipeline()).prepare_reference(
            photo, face_index=face_index)
        boxes = tuple(face_box(f) for f in prepared.faces)
        return ReferenceState(
            kind="photo",
            label=path.name,
            prepared=prepared,
            path=path,
            image=to_display_qimage(photo.rgb),
            boxes=boxes,
            face_index=face_index,
        )

    def _prepare_preset_job(self, path: Path) -> ReferenceState:
        from core.geometry import presets

        preset = presets.load_preset(path)
        prepared = self.pipeline().prepare_preset(preset)
        label = preset.name or path.stem
        return ReferenceState(kind="preset", label=label, prepared=prepared, path=path)

    def _on_source(self, gen: int, state: SourceState) -> None:
        if gen == self._source_runner.latest():
            if self.session.editor.is_warp and built_pipeline(self.crop_size) is not None:
                # the live view (the photo at display size: a resize of the whole photo) is made
                # on the live thread while the reference is still being analysed
                warm = FunctionWorker(self._live_view, state, self._view_size)
                warm.signals.errored.connect(lambda exc: log.info("live view not made ahead: %s", exc))
                warm.start(live_pool())
            self.sourceReady.emit(state)

    def _on_reference(self, gen: int, state: ReferenceState) -> None:
        if gen == self._reference_runner.latest():
            self.referenceReady.emit(state)

    # -- rendering ---------------------------------------------------------------------------
    def set_view_size(self, width: int, height: int) -> None:
        """The result view's size in device px: live pictures are made at this resolution."""
        self._view_size = (max(16, int(width)), max(16, int(height)))

    def view_size(self) -> tuple[int, int]:
        return self._view_size

    def schedule_render(self, *_: object) -> None:
        """Render the session's current state: from the cache, else in the worker (latest wins).

        With the warp editor the live path draws a preview at the view's resolution at once
        (module docstring); other editors preview photos above :data:`PROXY_PIXELS` on a downscaled
        proxy. The full-resolution render follows once the sliders rest for ``REFINE_DELAY_MS``.
        """
        s = self.session
        if not s.ready():
            return
        cached = self._cache.get(self._key())
        if cached is not None:
            self._cache.move_to_end(self._key())
            self._refine_timer.stop()
            self._render_runner.cancel_pending()
            self._live_runner.cancel_pending()
            s.set_result(cached)
            self._render_idle()
            return
        s.set_busy(Task.RENDER, True)
        if s.editor.is_warp and built_pipeline(self.crop_size) is not None:
            anchor = self._anchors.get((s.source.key, s.reference.key))
            self._live_runner.request(
                self._live_job, s.source, s.reference, s.params, s.editor, self._view_size, anchor
            )
            self._refine_timer.start()
            return
        w, h = s.source.size
        preview = w * h > PROXY_PIXELS
        self._render_runner.request(self._render_job, s.source, s.reference, s.params, s.editor, preview)
        if preview:
            self._refine_timer.start()

    def _key(self) -> RenderKey:
        s = self.session
        assert s.source is not None and s.reference is not None  # callers check s.ready()
        return (s.source.key, s.reference.key, s.editor, s.params)

    def _refine(self) -> None:
        """The sliders rested: render the current state at full resolution (unless known)."""
        s = self.session
        if s.ready() and self._key() not in self._cache:
            s.set_busy(Task.RENDER, True)
            self._render_runner.request(self._render_job, s.source, s.reference, s.params, s.editor, False)
        self._render_idle()

    def _render_idle(self) -> None:
        """'render' stays busy while a render runs or waits, and while a refine is due."""
        runners = (self._render_runner, self._live_runner)
        if not any(r.busy() for r in runners) and not self._refine_timer.isActive():
            self.session.set_busy(Task.RENDER, False)

    def _proxy(self, source: SourceState) -> PreparedSource:
        """The source's preview proxy (pool thread only; a few kept)."""
        if source.key not in self._proxies:
            self._proxies[source.key] = make_proxy(source.prepared)
            while len(self._proxies) > 3:
                self._proxies.pop(next(iter(self._proxies)))
        return self._proxies[source.key] or source.prepared

    def _render_job(
        self,
        source: SourceState,
        reference: ReferenceState,
        params: EditParams,
        editor: EditorSpec,
        preview: bool = False,
    ) -> Rendered:
        prepared = self._proxy(source) if preview else source.prepared
        result = self.pipeline(editor).render(prepared, reference.prepared, params, full_resolution=True)
        image = None
        if result.image is not None and result.region is not None and not preview:
            # the photo changed only in its face region: convert that, copy the rest
            rows, cols = np.flatnonzero(result.region.any(axis=1)), np.flatnonzero(result.region.any(axis=0))
            box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1) if rows.size else None
            image = patched_display_qimage(source.image, result.image, box)
        elif result.image is not None:
            image = to_display_qimage(result.image)
        return Rendered(
            result=result,
            params=params,
            source_key=source.key,
            reference_key=reference.key,
            editor=editor,
            image=image,
            crop=to_qimage(result.crop),
            preview=prepared is not source.prepared,
        )

    def _live_view(self, source: SourceState, view_size: tuple[int, int]) -> LiveView:
        """The source's live view for ``view_size`` (live thread only; a few kept)."""
        key = (source.key, view_size)
        view = self._live_views.get(key)
        if view is None:
            pipe = built_pipeline(self.crop_size)
            assert pipe is not None  # schedule_render checks
            view = pipe.live_view(source.prepared, view_size)
            self._live_views[key] = view
            while len(self._live_views) > 3:
                self._live_views.popitem(last=False)
        return view

    def _live_job(
        self,
        source: SourceState,
        reference: ReferenceState,
        params: EditParams,
        editor: EditorSpec,
        view_size: tuple[int, int],
        anchor: LiveAnchor | None,
    ) -> Rendered:
        """One live picture (live thread: only the pipeline's thread-safe live methods)."""
        from core.editing.pipeline import Timings

        t0, c0 = time.perf_counter(), time.thread_time()
        pipe = built_pipeline(self.crop_size)
        assert pipe is not None  # schedule_render checks
        prepared, ref = source.prepared, reference.prepared
        target = pipe.live_target(prepared, ref, params)
        t1 = time.perf_counter()
        frame = self._live_view(source, view_size).render(target, anchor, bgra=True)
        goal = pipe.target_aus(ref, params, prepared)
        shown = prepared.fit.aus + params.alpha * (goal - prepared.fit.aus)
        if ref.vertices is not None:
            ref_verts = ref.vertices
        else:  # a preset: the source with the preset's expression at full intensity
            full = EditParams(alpha=1.0, au_overrides=params.au_overrides)  # every region at 100 %
            ref_verts = pipe.live_target(prepared, ref, full)
        total = (time.perf_counter() - t0) * 1e3
        result = LiveResult(
            image=frame.image,
            source_vertices=prepared.vertices,
            reference_vertices=ref_verts,
            target_vertices=frame.target,
            faces=pipe.geometry.faces,
            target_aus=shown,
            timings=Timings((t1 - t0) * 1e3, frame.flow_ms, 0.0, frame.paste_ms, total),
            editor_name=pipe.editor.name,
            cpu_ms=(time.thread_time() - c0) * 1e3,
        )
        return Rendered(
            result=result,  # type: ignore[arg-type]  (shown like an EditResult)
            params=params,
            source_key=source.key,
            reference_key=reference.key,
            editor=editor,
            image=wrap_bgra(frame.image),
            crop=None,  # type: ignore[arg-type]  (the live path makes no crop; image is set)
            preview=True,
        )

    def _on_live(self, gen: int, rendered: Rendered) -> None:
        # every live picture shows (they finish in order: the picture follows the drag, also while
        # a newer move waits), unless the exact picture of the current state is already on show
        if not self.session.result_is_current():
            self.session.set_result(rendered)

    def _on_live_error(self, gen: int, exc: BaseException) -> None:
        """A live picture failed: log it and let the exact render (already due) show the state."""
        log.error("live render failed:\n%s", traceback_text(exc))
        s = self.session
        if gen == self._live_runner.latest() and s.ready():
            self._refine_timer.stop()
            self._refine()

    def _on_rendered(self, gen: int, rendered: Rendered) -> None:
        if not rendered.preview:
            self._remember(rendered)
            self._anchor(rendered)
        s = self.session
        if rendered.params == s.params or s.result is None:
            s.set_result(rendered)
        elif not rendered.editor.is_warp and (gen == self._render_runner.latest()
                                              or not s.result_is_current()):
            # a proxy preview of an older state still shows while a newer one runs (the picture
            # follows the drag); with the warp editor the live pictures do that instead
            s.set_result(rendered)

    def _anchor(self, rendered: Rendered) -> None:
        """Keep an exact render's made content for the live path of its source and reference."""
        from core.editing.fast_path import LiveAnchor

        r = rendered.result
        if r.crop_replaced is None or not rendered.editor.is_warp:
            return
        key = (rendered.source_key, rendered.reference_key)
        self._anchors[key] = LiveAnchor(crop=r.crop, replaced=r.crop_replaced, target=r.target_vertices)
        self._anchors.move_to_end(key)
        while len(self._anchors) > 4:
            self._anchors.popitem(last=False)

    @staticmethod
    def _bytes(r: Rendered) -> int:
        """What a cached render holds: its QImages and the result's pictures."""
        images = [r.result.crop, *([r.result.image] if r.result.image is not None else [])]
        size = r.crop.sizeInBytes() + (r.image.sizeInBytes() if r.image is not None else 0)
        return size + sum(a.nbytes for a in images)

    def _remember(self, r: Rendered) -> None:
        key = (r.source_key, r.reference_key, r.editor, r.params)
        self._cache[key] = r
        self._cache_bytes += self._bytes(r)
        while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= self._bytes(old)

    def render_coalesced(self) -> int:
        """How many render requests were skipped because a newer one replaced them."""
        return self._render_runner.coalesced

    # -- export and presets ------------------------------------------------------------------
    def export(self, request: ExportRequest) -> bool:
        """Export the current state in a worker (progress: :attr:`exportProgress`; cancel:
        :meth:`cancel_export`). Returns False (with a warning) when there is nothing to export."""
        s = self.session
        if not s.ready():
            s.notify(
                NoticeLevel.WARNING,
                "Load a source portrait and a reference first; there is nothing to export yet.",
            )
            return False
        assert s.source is not None and s.reference is not None
        protect = [p for p in (s.source.path, s.reference.path) if p is not None]
        cancel = threading.Event()
        self._export_cancel = cancel
        self._start(
            Task.EXPORT,
            export_job,
            s.source.prepared,
            s.reference.prepared,
            s.params,
            s.editor,
            self.crop_size,
            request,
            protect,
            cancel,
            on_done=self.exported.emit,
            on_progress=self.exportProgress.emit,
        )
        return True

    def cancel_export(self) -> None:
        """Stop the running export at its next step; nothing is written (a notice says so)."""
        if self._export_cancel is not None:
            self._export_cancel.set()

    def save_preset(self, name: str, folder: Path, *, overwrite: bool = False) -> None:
        """Save the expression on show as preset ``name`` in ``folder``.

        Presets are applied on top of a person's estimated neutral
        (:meth:`core.editing.geometry_link.GeometryLink.preset_target`), so what is saved is the
        shown target AUs relative to the source's neutral: loading the preset back onto the same
        source shows the same expression (wherever it is at or above that neutral)."""
        r = self.session.result
        if r is None:
            self.session.notify(
                NoticeLevel.WARNING, "There is no result yet: load a source and a reference first."
            )
            return
        aus = np.asarray(r.result.target_aus, dtype=np.float64).copy()
        source = self.session.source
        if source is not None:
            aus = np.clip(aus - source.prepared.fit.neutral_aus, 0.0, 1.0)
        self._start(
            Task.PRESET, save_preset_job, name, Path(folder), aus, overwrite, on_done=self.presetSaved.emit
        )

    # -- plumbing ----------------------------------------------------------------------------
    def _start(
        self,
        task: Task,
        fn: Callable[..., object],
        *args: object,
        on_done: Callable[[object], None] | None = None,
        pool: QThreadPool | None = None,
        on_progress: Callable[[object], None] | None = None,
    ) -> FunctionWorker:
        worker = FunctionWorker(fn, *args)
        self.session.set_busy(task, True)

        def returned(value: object) -> None:
            if on_done is not None and shiboken6.isValid(self):
                on_done(value)

        def errored(exc: BaseException) -> None:
            if shiboken6.isValid(self):
                self._on_error(task, None, exc)

        def finished() -> None:
            if shiboken6.isValid(self) and shiboken6.isValid(self.session):
                self.session.set_busy(task, False)

        worker.signals.returned.connect(returned)
        worker.signals.errored.connect(errored)
        worker.signals.finished.connect(finished)
        if on_progress is not None:
            worker.signals.progress.connect(on_progress)
        return worker.start(pool or studio_pool())

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Drop pending requests and wait for running jobs (the window is closing)."""
        self._refine_timer.stop()
        runners = (self._source_runner, self._reference_runner, self._render_runner, self._live_runner)
        for runner in (*runners, self._editor_runner):
            runner.cancel_pending()
        return all([pool.waitForDone(timeout_ms) for pool in all_pools()])

    def _on_error(self, task: Task, gen: int | None, exc: BaseException) -> None:
        if isinstance(exc, ExportCancelled):
            self.failed.emit(task, exc)
            self.session.notify(NoticeLevel.INFO, str(exc))
            return
        if not isinstance(exc, GafetError):
            log.error("%s failed:\n%s", task, traceback_text(exc))
        self.failed.emit(task, exc)
        self.session.notify(NoticeLevel.ERROR, describe_error(exc))
