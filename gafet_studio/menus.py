"""The main window's actions, menus and tool bar.

:class:`StudioMenus` owns every QAction (one attribute each) and puts them in the window's menu
bar and tool bar; the window connects the actions' ``triggered`` to what they do. The File ▸
Open Recent menu follows :class:`~gafet_studio.recent.RecentFiles` and reports a pick through
:attr:`StudioMenus.recentSource` / :attr:`StudioMenus.recentReference`.

Shortcuts: Ctrl+O / Ctrl+R open source / reference, Ctrl+M open a GaFET model, Ctrl+E export,
Ctrl+B batch, Ctrl+Z undo, Ctrl+Shift+Z (or Ctrl+Y) redo, Ctrl+0 fit, Ctrl+1 100 %, Ctrl++ / Ctrl+-
zoom, B before/after, Ctrl+2 reference side by side.

View ▸ Theme offers System / Light / Dark (:attr:`StudioMenus.themes`, one checkable action each,
exclusive); :attr:`StudioMenus.themeChosen` reports a pick.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoStack
from PySide6.QtWidgets import QMainWindow

from gafet_studio.recent import RecentFiles
from gafet_studio.theme import THEME_LABELS, Theme

K = QKeySequence


def _action(parent: QObject, text: str, shortcuts: tuple[QKeySequence, ...] = (), tip: str = "") -> QAction:
    action = QAction(text, parent)
    if shortcuts:
        action.setShortcuts(list(shortcuts))
    if tip:
        action.setStatusTip(tip)
    return action


class StudioMenus(QObject):
    recentSource = Signal(object)  # Path: open it as the source
    recentReference = Signal(object)  # Path: open it as the reference
    themeChosen = Signal(object)  # Theme

    def __init__(
        self, window: QMainWindow, *, undo_stack: QUndoStack, recent: RecentFiles, models_folder: Path
    ) -> None:
        super().__init__(window)
        w = window
        self.open_source = _action(w, "Open &Source…", (K(K.StandardKey.Open),), "Open the portrait to edit")
        self.open_reference = _action(
            w, "Open &Reference…", (K("Ctrl+R"),), "Open the photo whose expression to copy"
        )
        self.open_model = _action(
            w,
            "Open &Model…",
            (K("Ctrl+M"),),
            "Open a GaFET checkpoint (.safetensors) and use it as the editor",
        )
        self.rescan_models = _action(
            w, "Rescan &Models Folder", tip=f"List the checkpoints in {models_folder} again"
        )
        self.load_preset = _action(w, "&Load Expression Preset…")
        self.save_preset = _action(
            w,
            "Save Expression as &Preset…",
            (K("Ctrl+Shift+S"),),
            "Save the current expression (its AUs) as JSON",
        )
        self.export = _action(w, "&Export…", (K("Ctrl+E"),), "Save the edited photo at full resolution")
        self.export_video = _action(
            w, "Export &Video…", tip="Write the portrait driven by the driving video as an MP4"
        )
        self.batch = _action(
            w,
            "&Batch Edit a Folder…",
            (K("Ctrl+B"),),
            "Apply this reference and these sliders to every photo of a folder",
        )
        self.quit = _action(w, "&Quit", (K(K.StandardKey.Quit),))
        self.undo = undo_stack.createUndoAction(w, "&Undo")
        self.undo.setShortcuts([K("Ctrl+Z")])
        self.redo = undo_stack.createRedoAction(w, "&Redo")
        self.redo.setShortcuts([K("Ctrl+Shift+Z"), K("Ctrl+Y")])
        self.reset = _action(w, "Reset &Sliders")
        self.fit = _action(w, "&Fit", (K("Ctrl+0"),))
        self.actual = _action(w, "&Actual Pixels (100%)", (K("Ctrl+1"),))
        self.zoom_in = _action(w, "Zoom &In", (K("Ctrl++"), K("Ctrl+=")))
        self.zoom_out = _action(w, "Zoom &Out", (K("Ctrl+-"),))
        self.before = _action(w, "Show &Before", (K("B"),))
        self.side_by_side = _action(
            w, "Reference &Side by Side", (K("Ctrl+2"),), "Show the reference photo beside the result"
        )
        self.side_by_side.setCheckable(True)
        self.theme_group = QActionGroup(w)
        self.theme_group.setExclusive(True)
        self.themes: dict[Theme, QAction] = {}
        for theme in Theme:
            action = _action(w, THEME_LABELS[theme], tip=f"{theme.value.capitalize()} colours")
            action.setCheckable(True)
            action.triggered.connect(lambda _=False, t=theme: self.themeChosen.emit(t))
            self.theme_group.addAction(action)
            self.themes[theme] = action
        self.themes[Theme.SYSTEM].setStatusTip("Follow the desktop's light or dark setting")
        self.assets = _action(w, "Fetch Face &Models…")
        self.about = _action(w, "&About GaFET Studio")
        self._recent = recent
        self._build(w)
        recent.changed.connect(self.fill_recent)
        self.fill_recent()

    def _build(self, w: QMainWindow) -> None:
        bar = w.menuBar()
        file = bar.addMenu("&File")
        file.addActions([self.open_source, self.open_reference])
        self.recent_menu = file.addMenu("Open Re&cent")
        file.addAction(self.open_model)
        file.addSeparator()
        file.addActions([self.load_preset, self.save_preset])
        file.addSeparator()
        file.addActions([self.export, self.export_video, self.batch])
        file.addSeparator()
        file.addAction(self.quit)
        edit = bar.addMenu("&Edit")
        edit.addActions([self.undo, self.redo])
        edit.addSeparator()
        edit.addAction(self.reset)
        view = bar.addMenu("&View")
        view.addActions([self.fit, self.actual, self.zoom_in, self.zoom_out])
        view.addSeparator()
        view.addActions([self.before, self.side_by_side])
        view.addSeparator()
        self.theme_menu = view.addMenu("&Theme")
        self.theme_menu.addActions(list(self.themes.values()))
        tools = bar.addMenu("&Tools")
        tools.addAction(self.assets)
        tools.addAction(self.rescan_models)
        bar.addMenu("&Help").addAction(self.about)
        tb = w.addToolBar("Main")
        tb.setObjectName("mainToolBar")
        tb.setMovable(False)
        tb.addActions([self.open_source, self.open_reference, self.export])
        tb.addSeparator()
        tb.addActions([self.undo, self.redo])

    def show_theme(self, theme: Theme) -> None:
        """Check ``theme``'s action (without emitting :attr:`themeChosen`)."""
        self.themes[Theme(theme)].setChecked(True)

    def fill_recent(self) -> None:
        """List the recent files, each as source and as reference; then Clear."""
        menu = self.recent_menu
        menu.clear()
        files = self._recent.files()
        for path in files:
            src = menu.addAction(f"{path.name} — as source")
            src.setToolTip(str(path))
            src.triggered.connect(lambda _=False, p=path: self.recentSource.emit(p))
            ref = menu.addAction(f"{path.name} — as reference")
            ref.triggered.connect(lambda _=False, p=path: self.recentReference.emit(p))
        if files:
            menu.addSeparator()
            menu.addAction("Clear", self._recent.clear)
        menu.setEnabled(bool(files))
