"""Undo commands. Every parameter change, source change and reference change is one of these.

A slider drag pushes many :class:`SetParamsCommand`s with the same ``(control, gesture)``; they
merge (``id`` + ``mergeWith``) into one step, so one drag is one undo. Source and reference
commands keep the prepared states, so undoing a photo change is instant (no re-analysis).
Editor commands keep the two (immutable) :class:`~core.editing.spec.EditorSpec` values.
"""

from __future__ import annotations

import itertools

from PySide6.QtGui import QUndoCommand

from core.editing.params import EditParams
from core.editing.spec import EditorSpec
from gafet_studio.session import ReferenceState, Session, SourceState

PARAMS_COMMAND_ID = 4101
_GESTURES = itertools.count(1)


def new_gesture() -> int:
    """An id for one slider drag: every change made during it merges into one undo step."""
    return next(_GESTURES)


class SetParamsCommand(QUndoCommand):
    """Change the edit parameters from ``old`` to ``new``.

    control: what changed ('intensity', 'region:mouth', 'AU12', 'reset', 'preset', ...), shown in
    the Edit menu. gesture: an id shared by every command of one drag; commands merge only when
    both control and gesture match (0 = never merge).
    """

    def __init__(
        self,
        session: Session,
        old: EditParams,
        new: EditParams,
        *,
        control: str,
        gesture: int = 0,
        text: str | None = None,
    ) -> None:
        super().__init__(text or f"Change {control}")
        self.session, self.old, self.new = session, old, new
        self.control, self.gesture = control, gesture

    def id(self) -> int:
        return PARAMS_COMMAND_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParamsCommand) or self.gesture == 0:
            return False
        if other.gesture != self.gesture or other.control != self.control:
            return False
        self.new = other.new
        self.setObsolete(self.new == self.old)
        return True

    def redo(self) -> None:
        self.session.set_params(self.new)

    def undo(self) -> None:
        self.session.set_params(self.old)


class SetSourceCommand(QUndoCommand):
    def __init__(self, session: Session, old: SourceState | None, new: SourceState, text: str) -> None:
        super().__init__(text)
        self.session, self.old, self.new = session, old, new

    def redo(self) -> None:
        self.session.set_source(self.new)

    def undo(self) -> None:
        self.session.set_source(self.old)


class SetReferenceCommand(QUndoCommand):
    def __init__(self, session: Session, old: ReferenceState | None, new: ReferenceState, text: str) -> None:
        super().__init__(text)
        self.session, self.old, self.new = session, old, new

    def redo(self) -> None:
        self.session.set_reference(self.new)

    def undo(self) -> None:
        self.session.set_reference(self.old)


class SetEditorCommand(QUndoCommand):
    def __init__(self, session: Session, old: EditorSpec, new: EditorSpec, text: str) -> None:
        super().__init__(text)
        self.session, self.old, self.new = session, old, new

    def redo(self) -> None:
        self.session.set_editor(self.new)

    def undo(self) -> None:
        self.session.set_editor(self.old)
