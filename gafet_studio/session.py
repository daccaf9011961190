"""The Studio's state: source, reference, edit parameters, current result. No widgets.

The session is the single source of truth. Widgets render it (they connect to its signals) and
send the user's intent to the controller, which changes the session (through the undo stack).
Heavy objects (prepared source/reference, results) are computed by workers and handed in here
finished.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from core.editing.params import EditParams
from gafet_studio.editors import WARP_CHOICE, WARP_ID, EditorChoice, fallback_label

_KEYS = itertools.count(1)


def _next_key() -> int:
    return next(_KEYS)


@dataclass(frozen=True, eq=False)
class SourceState:
    """A loaded, prepared source photo with one face selected.

    prepared: the pipeline's ``PreparedSource`` (photo, faces, face_index, aligned, params, vertices).
    image:    the full-resolution photo as a QImage (what "before" shows).
    boxes:    every detected face's box (x0, y0, x1, y1) in photo pixels, in face order.
    thumbs:   one small QImage per face (the face picker).
    """

    path: Path
    prepared: Any
    image: QImage
    boxes: tuple[tuple[float, float, float, float], ...]
    thumbs: tuple[QImage, ...]
    face_index: int = 0
    key: int = field(default_factory=_next_key)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.width(), self.image.height()


@dataclass(frozen=True, eq=False)
class ReferenceState:
    """A prepared reference expression: from a photo (``kind='photo'``) or a preset ('preset')."""

    kind: str
    label: str
    prepared: Any
    path: Path | None = None
    image: QImage | None = None
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    face_index: int = 0
    key: int = field(default_factory=_next_key)


@dataclass(frozen=True, eq=False)
class Rendered:
    """One finished render, ready to show.

    result: the pipeline's ``EditResult``. image: the full photo (or None); crop: the aligned crop.
    preview: True when rendered on a downscaled proxy of a large photo (``image`` is smaller
    than the photo; the full-resolution render follows when the sliders rest).
    """

    result: Any
    params: EditParams
    source_key: int
    reference_key: int
    editor_id: str
    image: QImage | None
    crop: QImage
    preview: bool = False

    def matches(self, source: SourceState | None, reference: ReferenceState | None, editor_id: str) -> bool:
        return (
            source is not None
            and reference is not None
            and self.source_key == source.key
            and self.reference_key == reference.key
            and self.editor_id == editor_id
        )


@dataclass(frozen=True)
class Notice:
    """A message for the user. level: 'info', 'warning' or 'error'."""

    level: str
    text: str


class Session(QObject):
    sourceChanged = Signal(object)  # SourceState | None
    referenceChanged = Signal(object)  # ReferenceState | None
    paramsChanged = Signal(object)  # EditParams
    resultChanged = Signal(object)  # Rendered | None
    editorChanged = Signal(str)  # editor id
    editorsChanged = Signal(object)  # tuple[EditorChoice, ...]: what the editor selector lists
    busyChanged = Signal(str, bool)  # task ('source', 'reference', 'render', 'export', 'assets'), busy
    notified = Signal(object)  # Notice

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source: SourceState | None = None
        self._reference: ReferenceState | None = None
        self._params = EditParams()
        self._result: Rendered | None = None
        self._editor_id = WARP_ID
        self._editors: tuple[EditorChoice, ...] = (WARP_CHOICE,)
        self._busy: set[str] = set()

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
    def editor_id(self) -> str:
        return self._editor_id

    @property
    def editors(self) -> tuple[EditorChoice, ...]:
        """The editor selector's entries (warp first; bad checkpoints with their problem)."""
        return self._editors

    def editor_choice(self, editor_id: str | None = None) -> EditorChoice | None:
        """The listed entry of ``editor_id`` (default: the active editor), or None."""
        editor_id = self._editor_id if editor_id is None else editor_id
        return next((c for c in self._editors if c.id == editor_id), None)

    def editor_label(self) -> str:
        """The active editor's name, as the selector and the status bar show it."""
        choice = self.editor_choice()
        return choice.label if choice is not None else fallback_label(self._editor_id)

    def busy(self, task: str | None = None) -> bool:
        return bool(self._busy) if task is None else task in self._busy

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
            and r.matches(self._source, self._reference, self._editor_id)
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

    def set_editor(self, editor_id: str) -> None:
        if editor_id == self._editor_id:
            return
        self._editor_id = editor_id
        self.editorChanged.emit(editor_id)
        self._drop_foreign_result()

    def set_editors(self, choices: tuple[EditorChoice, ...] | list[EditorChoice]) -> None:
        """Replace the selector's entries. The active editor's entry is kept when the new list
        lacks it (a model opened while the list was being made)."""
        choices = tuple(choices)
        ids = {c.id for c in choices}
        current = self.editor_choice()
        if current is not None and current.id not in ids:
            choices = (*choices, current)
        if choices != self._editors:
            self._editors = choices
            self.editorsChanged.emit(choices)

    def add_editor(self, choice: EditorChoice) -> None:
        """List ``choice`` (replacing the entry with its id, else after the others)."""
        if any(c.id == choice.id for c in self._editors):
            choices = tuple(choice if c.id == choice.id else c for c in self._editors)
        else:
            choices = (*self._editors, choice)
        if choices != self._editors:
            self._editors = choices
            self.editorsChanged.emit(choices)

    def set_result(self, rendered: Rendered | None) -> None:
        """Show ``rendered``; ignored when it belongs to another source, reference or editor."""
        if rendered is not None and not rendered.matches(self._source, self._reference, self._editor_id):
            return
        self._result = rendered
        self.resultChanged.emit(rendered)

    def set_busy(self, task: str, busy: bool) -> None:
        if busy == (task in self._busy):
            return
        (self._busy.add if busy else self._busy.discard)(task)
        self.busyChanged.emit(task, busy)

    def notify(self, level: str, text: str) -> None:
        self.notified.emit(Notice(level, text))

    def _drop_foreign_result(self) -> None:
        if self._result is not None and not self._result.matches(
            self._source, self._reference, self._editor_id
        ):
            self._result = None
            self.resultChanged.emit(None)
