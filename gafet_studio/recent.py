"""The recent-files list: newest first, no duplicates, at most ``limit`` entries, persisted."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from gafet_studio.settings import Settings


class RecentFiles(QObject):
    changed = Signal()

    def __init__(self, settings: Settings, limit: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._limit = limit

    def files(self) -> list[Path]:
        """The remembered files that still exist, newest first."""
        return [Path(f) for f in self._settings.recent_files() if Path(f).is_file()]

    def add(self, path: str | Path) -> None:
        key = str(Path(path).resolve())
        items = [f for f in self._settings.recent_files() if f != key]
        self._settings.set_recent_files([key, *items][: self._limit])
        self.changed.emit()

    def clear(self) -> None:
        self._settings.set_recent_files([])
        self.changed.emit()
