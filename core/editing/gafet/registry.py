"""The user's GaFET checkpoints: list them cheaply, load them once, offer them as editors.

Checkpoints live in ``<data home>/models/*.safetensors`` (:func:`models_folder`). Listing reads
only each file's header (config and tensor shapes, :func:`core.nets.checkpoint.read_header`) and
checks the shapes against the config (a build on the ``meta`` device: no weights are read), so a
damaged or foreign file is listed with ``ok=False`` and a UI-ready ``problem`` instead of
raising. Loading (:func:`load_editor`) reads and verifies the weights; loaded editors are kept in
a small LRU keyed by (resolved path, modification time, size, device), so the Studio's selector,
the CLI and batch runs share one copy and a changed file is loaded afresh.

:func:`inspect_checkpoint` is the one header check of a checkpoint (the listing, the Studio's
recent models and ``gafet model info`` use it). Which editor to build is an
:class:`~core.editing.spec.EditorSpec` (:attr:`ModelEntry.spec`); :func:`core.editing.spec.build_editor`
builds it, through :func:`load_editor` for checkpoints.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from core.assets import data_home
from core.editing.gafet.editor import GafetEditor, check_model_config, editor_label
from core.editing.spec import EditorSpec
from core.errors import GafetError
from core.nets.checkpoint import CheckpointError, CheckpointNotFoundError, check_structure, read_header

__all__ = [
    "CHECKPOINT_SUFFIX",
    "ModelEntry",
    "clear_cache",
    "find_checkpoint",
    "inspect_checkpoint",
    "list_checkpoints",
    "load_editor",
    "models_folder",
]

CHECKPOINT_SUFFIX = ".safetensors"
MODELS_DIRNAME = "models"
_EDITOR_CACHE_SIZE = 2  # loaded models (a gafet-256 generator is ~270 MB in float32)
_ENTRY_CACHE_SIZE = 64  # header checks of listed files


def models_folder() -> Path:
    """``<data home>/models``: where the Studio and ``gafet edit --model NAME`` look for checkpoints."""
    return data_home() / MODELS_DIRNAME


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint file as listed.

    path: the file. name: its stem (what the user named it). preset: the stored config's name
    (``gafet-256``, ``tiny-64``, or a custom name); resolution: r px. Both None when the header
    is unreadable. size_bytes: file size. ok: the header and tensor shapes are consistent and the
    editor can feed the model (the weights' digests are checked only on load). problem: why not
    ok, a sentence a UI can show; None when ok.
    """

    path: Path
    name: str
    preset: str | None
    resolution: int | None
    size_bytes: int
    ok: bool
    problem: str | None

    @property
    def label(self) -> str:
        """The selector label, ``"GaFET: <name> (<preset>)"`` (``"GaFET: <name>"`` when unreadable); the same
        as the loaded editor's ``name``."""
        return editor_label(self.path, self.preset)

    @property
    def spec(self) -> EditorSpec:
        """The editor of this checkpoint (device chosen at load: CUDA when available)."""
        return EditorSpec.gafet(self.path)




_V = TypeVar("_V")
_lock = threading.Lock()
_Key = tuple[str, int, int, str]  # (resolved path, mtime ns, size, listed path or device)
_entries: OrderedDict[_Key, ModelEntry] = OrderedDict()
_editors: OrderedDict[_Key, GafetEditor] = OrderedDict()


def _stamp(path: Path) -> tuple[str, int, int]:
    """(resolved path, mtime ns, size); raises CheckpointNotFoundError for a missing file."""
    try:
        resolved = path.resolve()
        st = resolved.stat()
    except OSError:
        raise CheckpointNotFoundError(f"GaFET checkpoint {path} does not exist.") from None
    if not resolved.is_file():
        raise CheckpointNotFoundError(f"GaFET checkpoint {path} is not a file.")
    return str(resolved), st.st_mtime_ns, st.st_size


def _remember(cache: OrderedDict[_Key, _V], key: _Key, value: _V, capacity: int) -> None:
    for old in [k for k in cache if k[0] == key[0] and k[1:3] != key[1:3]]:
        del cache[old]  # the file changed: its old entries are stale
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > capacity:
        cache.popitem(last=False)


def inspect_checkpoint(path: str | os.PathLike[str]) -> ModelEntry:
    """The one header check of a checkpoint: config and tensor shapes (no weights are read).

    Never raises for a bad or missing file: the entry has ``ok=False`` and a UI-ready ``problem``.
    Results are cached per file version (path, modification time, size).
    """
    path = Path(path)
    try:
        key = (*_stamp(path), str(path))
    except CheckpointError as err:  # missing, or vanished between a directory listing and now
        return ModelEntry(path=path, name=path.stem, preset=None, resolution=None, size_bytes=0, ok=False,
                          problem=str(err))
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
    preset = resolution = None
    problem = None
    try:
        header = read_header(path)
        preset, resolution = header.config.name, header.config.resolution
        check_structure(header, ("generator",))
        check_model_config(header.config, where=str(path))
    except CheckpointError as err:
        problem = str(err)
    except Exception as err:  # a listing must never break the editor selector; loading reports it again
        problem = f"{path} cannot be used as a GaFET checkpoint ({type(err).__name__}: {err})."
    entry = ModelEntry(path=path, name=path.stem, preset=preset, resolution=resolution, size_bytes=key[2],
                       ok=problem is None, problem=problem)
    with _lock:
        _remember(_entries, key, entry, _ENTRY_CACHE_SIZE)
    return entry


def list_checkpoints(folder: str | os.PathLike[str] | None = None) -> list[ModelEntry]:
    """Every ``*.safetensors`` file directly in ``folder`` (default :func:`models_folder`), sorted by
    name (case-insensitive). Never raises for a bad file (see :class:`ModelEntry`); a missing
    folder gives an empty list. Hidden files (leading ".") are skipped.
    """
    root = Path(folder) if folder is not None else models_folder()
    if not root.is_dir():
        return []
    files = [p for p in root.iterdir()
             if p.suffix.lower() == CHECKPOINT_SUFFIX and not p.name.startswith(".") and not p.is_dir()]
    entries = [inspect_checkpoint(p) for p in files]
    return sorted(entries, key=lambda e: (e.name.casefold(), e.name, str(e.path)))


def find_checkpoint(spec: str | os.PathLike[str], *, folder: str | os.PathLike[str] | None = None) -> Path:
    """A checkpoint named on a command line: an existing file path, else a name in the models
    folder (``smiles`` or ``smiles.safetensors`` -> ``<models>/smiles.safetensors``).

    Raises :class:`CheckpointNotFoundError` naming the folder and the checkpoints it holds.
    """
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    root = Path(folder) if folder is not None else models_folder()
    if len(path.parts) == 1:
        has_suffix = path.suffix.lower() == CHECKPOINT_SUFFIX
        candidate = root / (path.name if has_suffix else path.name + CHECKPOINT_SUFFIX)
        if candidate.is_file():
            return candidate
    names = [e.name for e in list_checkpoints(root)]
    known = f" Available: {', '.join(names)}." if names else f" {root} holds no checkpoints."
    raise CheckpointNotFoundError(f"No GaFET checkpoint '{spec}' was found (a .safetensors file, or the name "
                                  f"of one in {root}).{known}")


def load_editor(path: str | os.PathLike[str], *, device: torch.device | str | None = "cpu") -> GafetEditor:
    """The :class:`GafetEditor` of checkpoint ``path``, loaded once per (file version, device).

    device: "cpu", "cuda", ... or None (CUDA when available). Raises the checkpoint module's
    :class:`~core.nets.checkpoint.CheckpointError` subclasses (missing, damaged, wrong format,
    config mismatch, unsupported model), and :class:`GafetError` for a CUDA device where there is
    none; their ``str()`` is UI-ready.
    """
    from core.editing.gafet.engine import resolve_device

    path = Path(path)
    dev = resolve_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GafetError(f"Device {device}: no CUDA device is available here; use the CPU.")
    key = (*_stamp(path), str(dev))
    with _lock:
        if key in _editors:
            _editors.move_to_end(key)
            return _editors[key]
    editor = GafetEditor.from_checkpoint(path, device=dev)  # outside the lock: loading takes a while
    with _lock:
        if key in _editors:  # another thread loaded it meanwhile: keep one copy
            return _editors[key]
        _remember(_editors, key, editor, _EDITOR_CACHE_SIZE)
    return editor


def clear_cache() -> None:
    """Forget loaded editors and listed headers (e.g. after the models folder was edited)."""
    with _lock:
        _editors.clear()
        _entries.clear()
