"""The editor selector's entries: the built-in warp editor and GaFET checkpoints.

Which editor is an :class:`~core.editing.spec.EditorSpec`; a :class:`SelectorEntry` adds what
the selector shows (label, tooltip, why a checkpoint cannot be used). :func:`list_editors` (a
worker job: it reads every checkpoint's header) returns the warp editor, every checkpoint in the
models folder (:func:`models_folder`, ``<data home>/models``) and the
models the user opened from elsewhere (:class:`RecentModels`); a bad checkpoint is listed
disabled with its problem as ``problem`` (the tooltip). :func:`load` builds an editor through
:func:`core.editing.spec.build_editor` (seconds for a large model: call it in a worker).

Importing this module does not import torch (the registry is imported by the worker jobs), so
the Studio's window can show before torch has loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.editing.spec import WARP, EditorSpec, build_editor

if TYPE_CHECKING:
    from core.editing.gafet.registry import ModelEntry
    from gafet_studio.settings import Settings

RECENT_MODELS_KEY = "models/recent"
RECENT_MODELS_LIMIT = 8


@dataclass(frozen=True)
class SelectorEntry:
    """An entry of the editor selector (a UI record; the editor itself is ``spec``).

    label: what the selector and the status bar show (for a checkpoint the loaded editor's
    ``name``, ``"GaFET: <stem> (<preset>)"``). problem: why the entry cannot be used (shown as
    the disabled entry's tooltip); None when usable.
    """

    spec: EditorSpec
    label: str
    problem: str | None = None

    @property
    def path(self) -> Path | None:
        """The checkpoint (absolute); None for the warp editor."""
        return self.spec.checkpoint

    @property
    def enabled(self) -> bool:
        return self.problem is None

    @property
    def tooltip(self) -> str:
        if self.problem is not None:
            return self.problem
        return str(self.path) if self.path is not None else "Built in: needs no trained weights"


WARP_ENTRY = SelectorEntry(WARP, WARP.fallback_label)


def models_folder() -> Path:
    """``<data home>/models``: the folder :func:`core.editing.gafet.registry.models_folder`
    names (a test checks they agree), found without importing torch."""
    from core.assets import data_home

    return data_home() / "models"


def entry_of(model: ModelEntry) -> SelectorEntry:
    """The selector entry of a checkpoint the registry listed or inspected."""
    return SelectorEntry(model.spec, model.label, model.problem)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def list_editors(folder: Path | None = None, extra: tuple[Path, ...] = ()) -> list[SelectorEntry]:
    """The warp editor, every checkpoint in ``folder`` (default: the registry's models folder),
    then the ``extra`` checkpoints (recently opened) that exist and are not in that folder. Never
    raises for a bad file: it is listed with its problem. Reads headers only (a worker job all the
    same)."""
    from core.editing.gafet import registry

    entries = [WARP_ENTRY]
    entries += [entry_of(m) for m in registry.list_checkpoints(folder)]
    known = [e.path for e in entries if e.path is not None]
    for path in extra:
        path = Path(path)
        if path.is_file() and not any(_same_file(path, k) for k in known):
            entries.append(describe_checkpoint(path))
            known.append(path)
    return entries


def describe_checkpoint(path: str | os.PathLike[str]) -> SelectorEntry:
    """One checkpoint's selector entry, from the registry's header check (no weights are read;
    its folder is not listed: a recent model may sit in a big Downloads folder)."""
    from core.editing.gafet import registry

    return entry_of(registry.inspect_checkpoint(Path(path).expanduser().absolute()))


def load(spec: EditorSpec) -> SelectorEntry:
    """Worker job: build ``spec``'s editor (a checkpoint stays in the registry's cache, so the
    renders that follow find it loaded) and return its selector entry, labelled with the
    editor's name. Raises the checkpoint errors of :func:`core.editing.spec.build_editor`."""
    return SelectorEntry(spec, build_editor(spec).name)


class RecentModels:
    """Checkpoints the user opened from outside the models folder, newest first (in settings)."""

    def __init__(self, settings: Settings, *, limit: int = RECENT_MODELS_LIMIT) -> None:
        self.settings = settings
        self.limit = limit

    def _stored(self) -> list[str]:
        value = self.settings.q.value(RECENT_MODELS_KEY, [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            value = [value]
        return [str(v) for v in (value or []) if v]

    def files(self) -> list[Path]:
        """The remembered checkpoints that still exist, newest first."""
        return [Path(p) for p in self._stored() if Path(p).is_file()]

    def add(self, path: str | os.PathLike[str]) -> None:
        path = str(Path(path).expanduser().absolute())
        kept = [p for p in self._stored() if p != path]
        self.settings.q.setValue(RECENT_MODELS_KEY, [path, *kept][: self.limit])

    def clear(self) -> None:
        self.settings.q.setValue(RECENT_MODELS_KEY, [])
