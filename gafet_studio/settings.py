"""Persistent Studio settings (QSettings): folders, window and view, export choices, editor.

One typed accessor per value; callers never see QSettings keys. Tests pass their own
``QSettings`` (an INI file in a temporary folder) so they never touch the user's settings.
The editor is stored as :meth:`EditorSpec.to_text` and read with :meth:`EditorSpec.parse`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QByteArray, QSettings

from core.editing.spec import WARP, EditorSpec, InvalidEditorSpecError
from gafet_studio.jobs import EXPORT_SCOPES, ExportScope
from gafet_studio.theme import Theme, parse_theme

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("PNG", "JPEG", "WebP")
FolderKind = Literal["open", "export", "preset", "model"]  # each remembers its own last folder


def default_qsettings() -> QSettings:
    return QSettings("GaFET", "GaFET Studio")


class Settings:
    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else default_qsettings()

    # -- folders -----------------------------------------------------------------------------
    def last_folder(self, kind: FolderKind) -> str:
        """The folder last used for ``kind`` ('open', 'export', 'preset', 'model'); home if none."""
        value = self.q.value(f"folders/{kind}", "", str)
        return value if value and Path(value).is_dir() else str(Path.home())

    def set_last_folder(self, kind: FolderKind, folder: str | Path) -> None:
        self.q.setValue(f"folders/{kind}", str(folder))

    # -- window ------------------------------------------------------------------------------
    def window_geometry(self) -> QByteArray | None:
        value = self.q.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_geometry(self, data: QByteArray) -> None:
        self.q.setValue("window/geometry", data)

    def window_state(self) -> QByteArray | None:
        value = self.q.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, data: QByteArray) -> None:
        self.q.setValue("window/state", data)

    def theme(self) -> Theme:
        """The chosen colour theme (System when none was chosen, or the stored one is unknown)."""
        return parse_theme(self.q.value("view/theme", Theme.SYSTEM.value, str))

    def set_theme(self, theme: Theme) -> None:
        self.q.setValue("view/theme", Theme(theme).value)

    def side_by_side(self) -> bool:
        """Whether the result view shows the reference beside the result (View menu)."""
        value = self.q.value("view/side_by_side", False)
        return value in (True, "true", "1", 1)

    def set_side_by_side(self, on: bool) -> None:
        self.q.setValue("view/side_by_side", bool(on))

    # -- export ------------------------------------------------------------------------------
    def export_format(self) -> str:
        value = self.q.value("export/format", "PNG", str)
        return value if value in EXPORT_FORMATS else "PNG"

    def set_export_format(self, fmt: str) -> None:
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; expected one of {EXPORT_FORMATS}")
        self.q.setValue("export/format", fmt)

    def export_quality(self) -> int:
        try:
            value = int(self.q.value("export/quality", 95))
        except (TypeError, ValueError):
            value = 95
        return min(100, max(1, value))

    def set_export_quality(self, quality: int) -> None:
        self.q.setValue("export/quality", int(min(100, max(1, quality))))

    def export_scope(self) -> ExportScope:
        value = self.q.value("export/scope", "photo", str)
        return next((s for s in EXPORT_SCOPES if s == value), "photo")

    def set_export_scope(self, scope: ExportScope) -> None:
        if scope not in EXPORT_SCOPES:
            raise ValueError(f"unknown export scope {scope!r}; expected one of {EXPORT_SCOPES}")
        self.q.setValue("export/scope", scope)

    # -- recent files ------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.q.value("recent/files", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            value = [value]
        return [str(v) for v in (value or []) if v]

    def set_recent_files(self, files: list[str]) -> None:
        self.q.setValue("recent/files", list(files))

    # -- editor ------------------------------------------------------------------------------
    def editor(self) -> EditorSpec:
        """The editor last chosen; the warp editor when none was, or the stored value is unreadable."""
        text = self.q.value("editor/id", WARP.to_text(), str) or WARP.to_text()
        try:
            return EditorSpec.parse(text)
        except InvalidEditorSpecError as err:
            log.warning("ignoring the stored editor: %s", err)
            return WARP

    def set_editor(self, spec: EditorSpec) -> None:
        self.q.setValue("editor/id", spec.to_text())

    def sync(self) -> None:
        self.q.sync()
