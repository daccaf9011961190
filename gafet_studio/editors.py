"""The editors the Studio can use: the built-in warp editor and GaFET checkpoints.

An :class:`EditorChoice` is one entry of the editor selector. Its ``id`` is what the session,
the settings and the render cache store: ``"warp"`` for the built-in editor, ``"gafet:<absolute
path>"`` for a checkpoint. :func:`list_editors` (a worker job: it reads every checkpoint's header)
returns the warp editor, every checkpoint in the models folder
(:func:`core.editing.gafet.registry.models_folder`, ``<data home>/models``) and the models the
user opened from elsewhere (:class:`RecentModels`); a bad checkpoint is listed disabled with its
problem as ``problem`` (the tooltip). :func:`load` and :func:`make_editor` load a checkpoint
through the registry's cache (seconds for a large model: call them in a worker).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.editing.gafet import registry as model_registry
from core.editing.warp.editor import WARP_EDITOR_NAME
from core.errors import GafetError

if TYPE_CHECKING:
    from core.editing.editor import Editor
    from gafet_studio.settings import Settings

WARP_ID = "warp"
GAFET_PREFIX = "gafet:"
MODEL_DEVICE = None  # GaFET models: CUDA when available, else the CPU
RECENT_MODELS_KEY = "models/recent"
RECENT_MODELS_LIMIT = 8


@dataclass(frozen=True)
class EditorChoice:
    """An entry of the editor selector.

    id: ``"warp"`` or ``"gafet:<absolute path>"``. label: what the selector and the status bar
    show (for a checkpoint the loaded editor's ``name``, ``"GaFET: <stem> (<preset>)"``).
    path: the checkpoint (None for the warp editor). problem: why the entry cannot be used
    (shown as the disabled entry's tooltip); None when usable.
    """

    id: str
    label: str
    path: Path | None = None
    problem: str | None = None

    @property
    def enabled(self) -> bool:
        return self.problem is None

    @property
    def tooltip(self) -> str:
        if self.problem is not None:
            return self.problem
        return str(self.path) if self.path is not None else "Built in: needs no trained weights"


WARP_CHOICE = EditorChoice(WARP_ID, WARP_EDITOR_NAME)


def models_folder() -> Path:
    """Where the Studio looks for checkpoints (the registry's folder, ``<data home>/models``)."""
    return model_registry.models_folder()


def editor_id(path: str | os.PathLike[str]) -> str:
    """The id of checkpoint ``path`` (absolute, so the same file always has the same id)."""
    return GAFET_PREFIX + str(Path(path).expanduser().absolute())


def checkpoint_of(editor_id: str) -> Path | None:
    """The checkpoint path of a GaFET editor id; None for the warp editor."""
    if editor_id == WARP_ID:
        return None
    if not editor_id.startswith(GAFET_PREFIX) or len(editor_id) == len(GAFET_PREFIX):
        raise GafetError(f"Unknown editor '{editor_id}': expected 'warp' or a GaFET checkpoint.")
    return Path(editor_id[len(GAFET_PREFIX) :])


def fallback_label(editor_id: str) -> str:
    """A label for an id that is not (yet) listed: the warp editor's name or ``GaFET: <stem>``."""
    if editor_id == WARP_ID:
        return WARP_EDITOR_NAME
    if editor_id.startswith(GAFET_PREFIX) and len(editor_id) > len(GAFET_PREFIX):
        return f"GaFET: {Path(editor_id[len(GAFET_PREFIX) :]).stem}"
    return editor_id


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def list_editors(folder: Path | None = None, extra: tuple[Path, ...] = ()) -> list[EditorChoice]:
    """The warp editor, every checkpoint in ``folder`` (default: :func:`models_folder`), then the
    ``extra`` checkpoints (recently opened) that exist and are not in that folder. Never raises for
    a bad file: it is listed with its problem. Reads headers only (a worker job all the same)."""
    choices = [WARP_CHOICE]
    for found in model_registry.editor_choices(folder if folder is not None else models_folder()):
        if found.kind == "gafet" and found.path is not None:
            path = found.path.absolute()
            choices.append(EditorChoice(editor_id(path), found.label, path, found.problem))
    known = [c.path for c in choices if c.path is not None]
    for path in extra:
        path = Path(path)
        if path.is_file() and not any(_same_file(path, k) for k in known):
            choices.append(describe_checkpoint(path))
            known.append(path)
    return choices


def describe_checkpoint(path: str | os.PathLike[str]) -> EditorChoice:
    """One checkpoint's selector entry, from its header and tensor shapes (no weights are read;
    its folder is not listed: a recent model may sit in a big Downloads folder)."""
    from core.editing.gafet.editor import check_model_config, editor_label
    from core.nets.checkpoint import CheckpointError, check_structure, read_header

    path = Path(path).expanduser().absolute()
    preset = problem = None
    try:
        header = read_header(path)
        preset = header.config.name
        check_structure(header, ("generator",))
        check_model_config(header.config, where=str(path))
    except CheckpointError as err:
        problem = str(err)
    except Exception as err:  # a listing never breaks the selector; loading reports it again
        problem = f"{path} cannot be used as a GaFET checkpoint ({type(err).__name__}: {err})."
    return EditorChoice(editor_id(path), editor_label(path, preset), path, problem)


def make_editor(editor_id: str) -> Editor:
    """The editor of ``editor_id`` (a GaFET checkpoint through the registry's cache: the first
    call loads it, which takes up to seconds; call it in a worker). Raises
    :class:`core.nets.checkpoint.CheckpointError` for a missing or bad checkpoint."""
    path = checkpoint_of(editor_id)
    if path is None:
        from core.editing.warp.editor import WarpEditor

        return WarpEditor()
    return model_registry.load_editor(path, device=MODEL_DEVICE)


def load(editor_id: str) -> EditorChoice:
    """Worker job: load ``editor_id``'s editor (kept in the registry's cache, so the renders that
    follow find it loaded) and return its selector entry, labelled with the editor's name."""
    editor = make_editor(editor_id)
    return EditorChoice(editor_id, editor.name, checkpoint_of(editor_id))


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
