"""The user's intents, turned into session changes (through the undo stack) and engine jobs.

Widgets call these methods; they never touch the session or the engine themselves. Dropped or
opened paths are sorted out here: images vs folders vs presets vs other files, several at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoStack

from core.editing.params import EditParams
from core.editing.spec import EditorSpec
from gafet_studio import editors
from gafet_studio.editors import RecentModels, SelectorEntry
from gafet_studio.engine import Engine
from gafet_studio.jobs import ExportRequest
from gafet_studio.recent import RecentFiles
from gafet_studio.session import NoticeLevel, ReferenceState, Session, SourceState, Task
from gafet_studio.settings import Settings
from gafet_studio.undo import SetEditorCommand, SetParamsCommand, SetReferenceCommand, SetSourceCommand

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".mpo")
PRESET_SUFFIXES = (".json",)
DropTarget = Literal["window", "source", "reference"]  # where paths were dropped


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


class Controller(QObject):
    def __init__(
        self,
        *,
        settings: Settings | None = None,
        crop_size: int = 512,
        models_folder: str | Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings or Settings()
        self.models_folder = Path(models_folder) if models_folder is not None else editors.models_folder()
        self.session = Session(self)  # starts with the warp editor: a remembered model loads in start()
        self.engine = Engine(self.session, crop_size=crop_size, parent=self.session)
        self.undo_stack = QUndoStack(self)
        self.recent = RecentFiles(self.settings, parent=self)
        self.recent_models = RecentModels(self.settings)
        self._restoring: EditorSpec | None = None  # the remembered editor, while it loads at start-up
        self.engine.sourceReady.connect(self._source_ready)
        self.engine.referenceReady.connect(self._reference_ready)
        self.engine.exported.connect(self._exported)
        self.engine.presetSaved.connect(
            lambda p: self.session.notify(NoticeLevel.INFO, f"Saved the expression preset '{Path(p).name}'.")
        )
        self.engine.editorsListed.connect(self.session.set_editors)
        self.engine.editorLoaded.connect(self._editor_loaded)
        self.engine.failed.connect(self._failed)

    def start(self) -> None:
        """The window is up: list the editors and load the remembered one (both in workers)."""
        self.refresh_editors()
        remembered = self.settings.editor()
        if not remembered.is_warp:
            self._restoring = remembered
            self.engine.load_editor(remembered)

    # -- opening -----------------------------------------------------------------------------
    def open_paths(self, paths: Sequence[str | Path], target: DropTarget) -> None:
        """Handle dropped/opened paths. target: 'window' (first → source, second → reference),
        'source' or 'reference' (the first usable file; the rest are ignored, with a note)."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        folders = [p for p in paths if p.is_dir()]
        files = [p for p in paths if not p.is_dir()]
        if not files:
            names = ", ".join(f"'{p.name}'" for p in folders[:3])
            self.session.notify(
                NoticeLevel.ERROR,
                f"{names} {'is a folder' if len(folders) == 1 else 'are folders'}; "
                "drop image files (JPEG, PNG, WebP, BMP or TIFF), not folders.",
            )
            return
        notes = []
        if folders:
            notes.append(f"{len(folders)} folder{'s' if len(folders) > 1 else ''} ignored")
        # Prefer files named like images; anything else is still tried (the loader explains).
        images = [p for p in files if _is_image_name(p)] or files
        if target == "window":
            presets = [p for p in files if p.suffix.lower() in PRESET_SUFFIXES]
            images = [p for p in images if p not in presets]
            if not images and presets:
                self.open_reference(presets[0])
                used = [presets[0]]
            elif len(images) >= 2:
                self.open_source(images[0])
                self.open_reference(images[1])
                used = images[:2]
            else:
                self.open_source(images[0])
                used = images[:1]
                if presets:
                    self.open_reference(presets[0])
                    used.append(presets[0])
        elif target == "source":
            self.open_source(images[0])
            used = images[:1]
        elif target == "reference":
            first = files[0] if files[0].suffix.lower() in PRESET_SUFFIXES else images[0]
            self.open_reference(first)
            used = [first]
        else:
            raise ValueError(f"unknown drop target {target!r}")
        ignored = len(files) - len(used)
        if ignored:
            notes.append(f"{ignored} more file{'s' if ignored > 1 else ''} ignored")
        if notes:
            what = " and ".join(f"'{p.name}'" for p in used)
            self.session.notify(NoticeLevel.INFO, f"Using {what}; {', '.join(notes)}.")

    def open_source(self, path: str | Path) -> None:
        path = Path(path)
        self.settings.set_last_folder("open", path.parent)
        self.engine.load_source(path)

    def open_reference(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix.lower() in PRESET_SUFFIXES:
            self.settings.set_last_folder("preset", path.parent)
            self.engine.load_preset(path)
        else:
            self.settings.set_last_folder("open", path.parent)
            self.engine.load_reference(path)

    def select_face(self, index: int) -> None:
        self.engine.select_face(index)

    def select_reference_face(self, index: int) -> None:
        self.engine.select_reference_face(index)

    def _source_ready(self, state: SourceState) -> None:
        old = self.session.source
        if old is not None and old.path == state.path and old.face_index != state.face_index:
            text = f"Select face {state.face_index}"
        else:
            text = f"Open source '{state.path.name}'"
            self.recent.add(state.path)
        self.undo_stack.push(SetSourceCommand(self.session, old, state, text))
        n = len(state.boxes)
        if n > 1:
            self.session.notify(
                NoticeLevel.INFO,
                f"{n} faces found (numbered from 0, left to right); editing face {state.face_index}. "
                "Click another box or thumbnail to pick a different face.",
            )

    def _reference_ready(self, state: ReferenceState) -> None:
        old = self.session.reference
        if (
            old is not None
            and state.kind == "photo"
            and old.path == state.path
            and old.face_index != state.face_index
        ):
            text = f"Select reference face {state.face_index}"
        else:
            text = f"{'Load preset' if state.kind == 'preset' else 'Open reference'} '{state.label}'"
        if state.kind == "photo" and state.path is not None:
            self.recent.add(state.path)
        self.undo_stack.push(SetReferenceCommand(self.session, self.session.reference, state, text))

    # -- parameters --------------------------------------------------------------------------
    def _push_params(self, new: EditParams, control: str, gesture: int, text: str | None = None) -> None:
        old = self.session.params
        if new == old:
            return
        self.undo_stack.push(
            SetParamsCommand(self.session, old, new, control=control, gesture=gesture, text=text)
        )

    def set_alpha(self, alpha: float, gesture: int = 0) -> None:
        self._push_params(self.session.params.with_alpha(alpha), "intensity", gesture)

    def set_region(self, name: str, weight: float, gesture: int = 0) -> None:
        self._push_params(self.session.params.with_region(name, weight), f"{name} weight", gesture)

    def set_au(self, au: str, value: float | None, gesture: int = 0) -> None:
        self._push_params(self.session.params.with_au(au, value), au, gesture)

    def reset_aus(self) -> None:
        p = self.session.params
        self._push_params(EditParams(alpha=p.alpha, regions=p.regions), "reset", 0, "Reset action units")

    def reset_params(self) -> None:
        self._push_params(EditParams(), "reset", 0, "Reset all sliders")

    # -- editors -----------------------------------------------------------------------------
    def refresh_editors(self) -> None:
        """List the editors again: the models folder and the recently opened models (a worker)."""
        self.engine.list_editors(self.models_folder, tuple(self.recent_models.files()))

    def choose_editor(self, spec: EditorSpec) -> None:
        """The user picked an editor. A GaFET checkpoint loads in a worker first; the session
        switches (one undo step, and the picture re-renders) only once it loaded, so a model that
        fails to load leaves the previous editor active (the banner says why)."""
        self._restoring = None
        self.engine.load_editor(spec)  # the warp editor too: it supersedes a model still loading

    def open_model(self, path: str | Path) -> None:
        """File ▸ Open Model…: load a checkpoint from anywhere; once loaded it is listed, chosen
        and remembered as a recent model."""
        path = Path(path).expanduser().absolute()
        self.settings.set_last_folder("model", path.parent)
        self.choose_editor(EditorSpec.gafet(path))

    def set_editor(self, spec: EditorSpec, label: str = "") -> None:
        """Switch to ``spec`` at once (one undo step). Use :meth:`choose_editor` for a model that
        may not be loaded yet."""
        if spec != self.session.editor:
            self.settings.set_editor(spec)
            self.undo_stack.push(
                SetEditorCommand(
                    self.session, self.session.editor, spec, f"Use editor {label or spec.fallback_label}"
                )
            )

    def _editor_loaded(self, entry: SelectorEntry) -> None:
        self.session.add_editor(entry)
        path = entry.path
        if path is not None and path.parent.resolve() != self.models_folder.resolve():
            self.recent_models.add(path)
        if entry.spec == self._restoring:  # start-up: not an undoable change
            self._restoring = None
            self.session.set_editor(entry.spec)
            return
        self.set_editor(entry.spec, entry.label)

    def _failed(self, task: Task, exc: BaseException) -> None:
        if task == Task.MODEL:
            self._restoring = None

    # -- export and presets ------------------------------------------------------------------
    def export(self, request: ExportRequest) -> bool:
        """Start exporting (a worker); False when there is nothing to export (the banner says so)."""
        self.settings.set_last_folder("export", request.path.parent)
        return self.engine.export(request)

    def _exported(self, path: Path) -> None:
        self.session.notify(NoticeLevel.INFO, f"Exported '{Path(path).name}' to {Path(path).parent}.")

    def save_preset(self, name: str, folder: str | Path | None = None, *, overwrite: bool = False) -> None:
        """Save the current expression as preset ``name`` (default folder: the user's presets)."""
        from core.geometry.presets import user_presets_dir

        self.engine.save_preset(
            name, Path(folder) if folder is not None else user_presets_dir(), overwrite=overwrite
        )

    def shutdown(self) -> None:
        self.engine.shutdown()
