"""The main window's actions, menus and tool bar (built once; the window keeps the actions).

Shortcuts: Ctrl+O / Ctrl+R open source / reference, Ctrl+M open a GaFET model, Ctrl+E export,
Ctrl+B batch, Ctrl+Z undo, Ctrl+Shift+Z (or Ctrl+Y) redo, Ctrl+0 fit, Ctrl+1 100 %, Ctrl++ / Ctrl+-
zoom, B before/after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from gafet_studio.main_window import MainWindow


class StudioMenus:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self._build_actions()
        self._build_menus()

    def action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self.w)
        if shortcut is not None:
            a.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        return a

    def _build_actions(self) -> None:
        w = self.w
        K = QKeySequence
        w.open_source_action = self.action(
            "Open &Source…", w.choose_source, K(K.StandardKey.Open), "Open the portrait to edit"
        )
        w.open_reference_action = self.action(
            "Open &Reference…", w.choose_reference, K("Ctrl+R"), "Open the photo whose expression to copy"
        )
        w.open_model_action = self.action(
            "Open &Model…",
            w.choose_model,
            K("Ctrl+M"),
            "Open a GaFET checkpoint (.safetensors) and use it as the editor",
        )
        w.rescan_models_action = self.action(
            "Rescan &Models Folder",
            w.controller.refresh_editors,
            tip=f"List the checkpoints in {w.controller.models_folder} again",
        )
        w.load_preset_action = self.action("&Load Expression Preset…", w.choose_preset)
        w.save_preset_action = self.action(
            "Save Expression as &Preset…",
            w.save_preset,
            K("Ctrl+Shift+S"),
            "Save the current expression (its AUs) as JSON",
        )
        w.export_action = self.action(
            "&Export…", w.export, K("Ctrl+E"), "Save the edited photo at full resolution"
        )
        w.batch_action = self.action(
            "&Batch Edit a Folder…",
            w.batch,
            K("Ctrl+B"),
            "Apply this reference and these sliders to every photo of a folder",
        )
        w.quit_action = self.action("&Quit", w.close, K(K.StandardKey.Quit))
        stack = w.controller.undo_stack
        w.undo_action = stack.createUndoAction(w, "&Undo")
        w.undo_action.setShortcuts([K("Ctrl+Z")])
        w.redo_action = stack.createRedoAction(w, "&Redo")
        w.redo_action.setShortcuts([K("Ctrl+Shift+Z"), K("Ctrl+Y")])
        w.reset_action = self.action("Reset &Sliders", w.controller.reset_params)
        view = w.result_view.view
        w.fit_action = self.action("&Fit", view.fit, K("Ctrl+0"))
        w.actual_action = self.action("&Actual Pixels (100%)", view.actual_size, K("Ctrl+1"))
        w.zoom_in_action = self.action("Zoom &In", lambda: view.zoom_by(1.25), [K("Ctrl++"), K("Ctrl+=")])
        w.zoom_out_action = self.action("Zoom &Out", lambda: view.zoom_by(0.8), K("Ctrl+-"))
        w.before_action = self.action("Show &Before", w.result_view.before_button.toggle, K("B"))
        w.assets_action = self.action("Fetch Face &Models…", lambda: w.ensure_assets(force_dialog=True))

    def _build_menus(self) -> None:
        w = self.w
        bar = w.menuBar()
        file = bar.addMenu("&File")
        file.addActions([w.open_source_action, w.open_reference_action])
        w.recent_menu = file.addMenu("Open Re&cent")
        file.addAction(w.open_model_action)
        file.addSeparator()
        file.addActions([w.load_preset_action, w.save_preset_action])
        file.addSeparator()
        file.addActions([w.export_action, w.batch_action])
        file.addSeparator()
        file.addAction(w.quit_action)
        edit = bar.addMenu("&Edit")
        edit.addActions([w.undo_action, w.redo_action])
        edit.addSeparator()
        edit.addAction(w.reset_action)
        view = bar.addMenu("&View")
        view.addActions([w.fit_action, w.actual_action, w.zoom_in_action, w.zoom_out_action])
        view.addSeparator()
        view.addAction(w.before_action)
        tools = bar.addMenu("&Tools")
        tools.addAction(w.assets_action)
        tools.addAction(w.rescan_models_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.action("&About GaFET Studio", w.about))
        tb = w.addToolBar("Main")
        tb.setObjectName("mainToolBar")
        tb.setMovable(False)
        tb.addActions([w.open_source_action, w.open_reference_action, w.export_action])
        tb.addSeparator()
        tb.addActions([w.undo_action, w.redo_action])
        self.fill_recent()

    def fill_recent(self) -> None:
        w = self.w
        w.recent_menu.clear()
        files = w.controller.recent.files()
        for path in files:
            src = w.recent_menu.addAction(f"{path.name} — as source")
            src.setToolTip(str(path))
            src.triggered.connect(lambda _=False, p=path: w.controller.open_source(p))
            ref = w.recent_menu.addAction(f"{path.name} — as reference")
            ref.triggered.connect(lambda _=False, p=path: w.controller.open_reference(p))
        if files:
            w.recent_menu.addSeparator()
            w.recent_menu.addAction("Clear", w.controller.recent.clear)
        w.recent_menu.setEnabled(bool(files))
