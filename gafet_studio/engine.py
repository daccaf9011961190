"""The Studio's engine: runs the edit pipeline in workers and hands finished states back.

Everything heavy happens here, off the GUI thread: loading and preparing the source and the
reference (face detection, mesh, fit), rendering (coalesced: latest wins), exporting, saving
presets, listing the editors and loading a GaFET checkpoint (on the side pool, latest wins, so
the current editor keeps rendering while a model loads). The pipeline lives in
:func:`gafet_studio.workers.studio_pool`'s single thread, so its caches never see two threads.
Finished renders are cached by ``(source, reference, editor, params)`` so undo/redo shows a known
result at once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from core.editing.params import EditParams
from core.editing.spec import EditorSpec
from core.errors import GafetError
from gafet_studio import editors
from gafet_studio.image_convert import thumbnail, to_display_qimage, to_qimage
from gafet_studio.jobs import (
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
from gafet_studio.workers import FunctionWorker, LatestWins, all_pools, aux_pool, studio_pool, traceback_text

if TYPE_CHECKING:
    from core.editing.pipeline import EditPipeline, PreparedSource
    from core.io.photo import Photo

RenderKey = tuple[int, int, EditorSpec, EditParams]  # source key, reference key, editor, params

log = logging.getLogger(__name__)

CACHE_BYTES = 400 * 2**20  # finished renders kept for undo/redo
REFINE_DELAY_MS = 300  # sliders at rest this long: replace the proxy preview by the full render


class Engine(QObject):
    sourceReady = Signal(object)  # SourceState
    referenceReady = Signal(object)  # ReferenceState
    exported = Signal(object)  # Path written
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
        self._reference_runner = LatestWins(parent=self)
        self._render_runner = LatestWins(parent=self)
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
        from core.io import photo as photo_io

        if photo is None:
            photo = photo_io.load_photo(path)
        prepared = self.pipeline().prepare_source(photo, face_index=face_index)
        boxes = tuple(face_box(f) for f in prepared.faces)
        thumbs = tuple(to_qimage(thumbnail(photo.rgb, b)) for b in boxes) if len(boxes) > 1 else ()
        return SourceState(
            path=path,
            prepared=prepared,
            image=to_display_qimage(photo.rgb),
            boxes=boxes,
            thumbs=thumbs,
            face_index=face_index,
        )

    def _prepare_reference_job(self, path: Path, face_index: int, photo: Photo | None) -> ReferenceState:
        from core.io import photo as photo_io

        if photo is None:
            photo = photo_io.load_photo(path)
        prepared = self.pipeline().prepare_reference(photo, face_index=face_index)
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
            self.sourceReady.emit(state)

    def _on_reference(self, gen: int, state: ReferenceState) -> None:
        if gen == self._reference_runner.latest():
            self.referenceReady.emit(state)

    # -- rendering ---------------------------------------------------------------------------
    def schedule_render(self, *_: object) -> None:
        """Render the session's current state: from the cache, else in the worker (latest wins).

        Photos above :data:`PROXY_PIXELS` first get a quick preview on a downscaled proxy; the
        full-resolution render follows once the sliders have rested for ``REFINE_DELAY_MS``.
        """
        s = self.session
        if not s.ready():
            return
        cached = self._cache.get(self._key())
        if cached is not None:
            self._cache.move_to_end(self._key())
            self._refine_timer.stop()
            self._render_runner.cancel_pending()
            s.set_result(cached)
            self._render_idle()
            return
        s.set_busy(Task.RENDER, True)
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
        if not self._render_runner.busy() and not self._refine_timer.isActive():
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
        image = to_display_qimage(result.image) if result.image is not None else None
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

    def _on_rendered(self, gen: int, rendered: Rendered) -> None:
        if not rendered.preview:
            self._remember(rendered)
        # A stale render still shows while a newer one runs (the picture follows the drag), but
        # never replaces the final result of the current parameters.
        if gen == self._render_runner.latest() or not self.session.result_is_current():
            self.session.set_result(rendered)

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
    def export(self, request: ExportRequest) -> None:
        s = self.session
        if not s.ready():
            s.notify(
                NoticeLevel.WARNING,
                "Load a source portrait and a reference first; there is nothing to export yet.",
            )
            return
        assert s.source is not None and s.reference is not None
        protect = [p for p in (s.source.path, s.reference.path) if p is not None]
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
            on_done=self.exported.emit,
        )

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
        return worker.start(pool or studio_pool())

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Drop pending requests and wait for running jobs (the window is closing)."""
        self._refine_timer.stop()
        for runner in (self._source_runner, self._reference_runner, self._render_runner, self._editor_runner):
            runner.cancel_pending()
        return all([pool.waitForDone(timeout_ms) for pool in all_pools()])

    def _on_error(self, task: Task, gen: int | None, exc: BaseException) -> None:
        if not isinstance(exc, GafetError):
            log.error("%s failed:\n%s", task, traceback_text(exc))
        self.failed.emit(task, exc)
        self.session.notify(NoticeLevel.ERROR, describe_error(exc))
