"""The Studio's state: source, reference, edit parameters, current result. No widgets.

The session is the single source of truth. Widgets render it (they connect to its signals) and
send the user's intent to the controller, which changes the session (through the undo stack).
Heavy objects (prepared source/reference, results) are computed by workers and handed in here
finished.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from core.editing.params import EditParams
from core.editing.spec import WARP, EditorSpec
from gafet_studio.editors import WARP_ENTRY, SelectorEntry

if TYPE_CHECKING:
    from core.editing.pipeline import EditResult, PreparedReference, PreparedSource

_KEYS = itertools.count(1)

ReferenceKind = Literal["photo", "preset"]  # a reference photo's face, or an expression preset
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in photo px


class Task(StrEnum):
    """What the Studio can be busy with (:meth:`Session.busy`); the status bar names each."""

    SOURCE = "source"  # loading and analysing the source photo
    REFERENCE = "reference"  # the reference photo or preset
    RENDER = "render"  # rendering the edit (a preview, then full resolution)
    EXPORT = "export"
    PRESET = "preset"  # saving an expression preset
    WARMUP = "warmup"  # building the pipeline (loads the face networks)
    MODEL = "model"  # loading a GaFET checkpoint
    MODELS = "models"  # listing the models folder


class NoticeLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def _next_key() -> int:
    return next(_KEYS)


@dataclass(frozen=True, eq=False)
class SourceState:
    """A loaded, prepared source photo with one face selected.

    prepared: the pipeline's ``PreparedSource`` (photo, faces, face_index, aligned, params, vertices).
    image:    the full-resolution photo as a QImage (what "before" shows).
    boxes:    every detected face's box (x0, y0, x1, y1) in photo pixels, in face order.
    thumbs:   one small QImage per face (the face picker; empty for a single face).
    """

    path: Path
    prepared: PreparedSource
    image: QImage
    boxes: tuple[Box, ...]
    thumbs: tuple[QImage, ...]
    face_index: int = 0
    key: int = field(default_factory=_next_key)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.width(), self.image.height()


@dataclass(frozen=True, eq=False)
class ReferenceState:
    """A prepared reference expression: from a photo (``kind='photo'``) or a preset ('preset').

    prepared: the pipeline's ``PreparedReference``. image and boxes: the photo and its faces'
    boxes (photo px), for a photo only.
    """

    kind: ReferenceKind
    label: str
    prepared: PreparedReference
    path: Path | None = None
    image: QImage | None = None
    boxes: tuple[Box, ...] = ()
    face_index: int = 0
    key: int = field(default_factory=_next_key)


@dataclass(frozen=True, eq=False)
class Rendered:
    """One finished render, ready to show.

    result: the pipeline's ``EditResult``. image: the full photo (or None); crop: the aligned crop.
    editor: the editor that rendered it.
    preview: True when rendered on a downscaled proxy of a large photo (``image`` is smaller
    than the photo; the full-resolution render follows when the sliders rest).
    """

    result: EditResult
    params: EditParams
    source_key: int
    reference_key: int
    editor: EditorSpec
    image: QImage | None
    crop: QImage
    preview: bool = False

    def matches(
        self, source: SourceState | None, reference: ReferenceState | None, editor: EditorSpec
    ) -> bool:
        return (
            source is not None
            and reference is not None
            and self.source_key == source.key
            and self.reference_key == reference.key
            and self.editor == editor
        )


@dataclass(frozen=True)
class Notice:
    """A message for the user (the banner and the status bar show it)."""

    level: NoticeLevel
    text: str


class Session(QObject):
    sourceChanged = Signal(object)  # SourceState | None
    referenceChanged = Signal(object)  # ReferenceState | None
    paramsChanged = Signal(object)  # EditParams
    resultChanged = Signal(object)  # Rendered | None
    editorChanged = Signal(object)  # EditorSpec
    editorsChanged = Signal(object)  # tuple[SelectorEntry, ...]: what the editor selector lists
    busyChanged = Signal(object, bool)  # Task, busy
    notified = Signal(object)  # Notice

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source: SourceState | None = None
        self._reference: ReferenceState | None = None
        self._params = EditParams()
        self._result: Rendered | None = None
        self._editor = WARP
        self._editors: tuple[SelectorEntry, ...] = (WARP_ENTRY,)
        self._busy: set[Task] = set()

    # -- state ------------------------------------------------------------------------------
    @property
    def source(self) -> SourceState | None:
        return self._source

    @property
    def reference(self) -> ReferenceState | None:
        return self._reference

    @property
    def params(self) -> EditParams:
        return self._params

    @property
    def result(self) -> Rendered | None:
        return self._result

    @property
    def editor(self) -> EditorSpec:
        """The active editor (the warp editor until a model is chosen and loaded)."""
        return self._editor

    @property
    def editors(self) -> tuple[SelectorEntry, ...]:
        """The editor selector's entries (warp first; bad checkpoints with their problem)."""
        return self._editors

    def editor_entry(self, spec: EditorSpec | None = None) -> SelectorEntry | None:
        """The listed entry of ``spec`` (default: the active editor), or None."""
        spec = self._editor if spec is None else spec
        return next((e for e in self._editors if e.spec == spec), None)

    def editor_label(self) -> str:
        """The active editor's name, as the selector and the status bar show it."""
        entry = self.editor_entry()
        return entry.label if entry is not None else self._editor.fallback_label

    def busy(self, task: Task | None = None) -> bool:
        """Whether ``task`` runs (None: whether anything does)."""
        return bool(self._busy) if task is None else Task(task) in self._busy

    def ready(self) -> bool:
        """True when a result can be rendered (source and reference present)."""
        return self._source is not None and self._reference is not None

    def result_is_current(self) -> bool:
        """True when the shown result is the final (full-resolution) one of the current state."""
        r = self._result
        return (
            r is not None
            and not r.preview
            and r.params == self._params
            and r.matches(self._source, self._reference, self._editor)
        )

    # -- changes (called by the controller and the undo commands) -----------------------------
    def set_source(self, source: SourceState | None) -> None:
        if source is self._source:
            return
        self._source = source
        self.sourceChanged.emit(source)
        self._drop_foreign_result()

    def set_reference(self, reference: ReferenceState | None) -> None:
        if reference is self._reference:
            return
        self._reference = reference
        self.referenceChanged.emit(reference)
        self._drop_foreign_result()

    def set_params(self, params: EditParams) -> None:
        if params == self._params:
            return
        self._params = params
        self.paramsChanged.emit(params)

    def set_editor(self, spec: EditorSpec) -> None:
        if spec == self._editor:
            return
        self._editor = spec
        self.editorChanged.emit(spec)
        self._drop_foreign_result()

    def set_editors(self, entries: tuple[SelectorEntry, ...] | list[SelectorEntry]) -> None:
        """Replace the selector's entries. The active editor's entry is kept when the new list
        lacks it (a model opened while the list was being made)."""
        entries = tuple(entries)
        current = self.editor_entry()
        if current is not None and all(e.spec != current.spec for e in entries):
            entries = (*entries, current)
        if entries != self._editors:
            self._editors = entries
            self.editorsChanged.emit(entries)

    def add_editor(self, entry: SelectorEntry) -> None:
        """List ``entry`` (replacing the entry of its editor, else after the others)."""
        if any(e.spec == entry.spec for e in self._editors):
            entries = tuple(entry if e.spec == entry.spec else e for e in self._editors)
        else:
            entries = (*self._editors, entry)
        if entries != self._editors:
            self._editors = entries
            self.editorsChanged.emit(entries)

    def set_result(self, rendered: Rendered | None) -> None:
        """Show ``rendered``; ignored when it belongs to another source, reference or editor."""
        if rendered is not None and not rendered.matches(self._source, self._reference, self._editor):
            return
        self._result = rendered
        self.resultChanged.emit(rendered)

    def set_busy(self, task: Task, busy: bool) -> None:
        task = Task(task)  # a misspelt task fails here, not as a silent status-bar gap
        if busy == (task in self._busy):
            return
        (self._busy.add if busy else self._busy.discard)(task)
        self.busyChanged.emit(task, busy)

    def notify(self, level: NoticeLevel, text: str) -> None:
        self.notified.emit(Notice(NoticeLevel(level), text))

    def _drop_foreign_result(self) -> None:
        if self._result is not None and not self._result.matches(
            self._source, self._reference, self._editor
        ):
            self._result = None
            self.resultChanged.emit(None)
