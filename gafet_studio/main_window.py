"""The Studio's main window: the workspace, the menus and the status bar, wired to the controller.

The panels are laid out by :class:`~gafet_studio.widgets.workspace.Workspace`, the actions live
in :class:`~gafet_studio.menus.StudioMenus`, and the intents that ask something first (a file, a
name, export and batch settings) in :class:`~gafet_studio.dialogs.StudioDialogs`. The window
holds no state of its own: it renders the session (its signals) and forwards the user's intents
to the controller. On first run it fetches the missing face models.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QMainWindow

from core.editing.params import AU_NAMES, EditParams
from gafet_studio.controller import Controller
from gafet_studio.dialogs import StudioDialogs
from gafet_studio.menus import StudioMenus
from gafet_studio.session import Notice, NoticeLevel, ReferenceState, Rendered, SourceState, Task
from gafet_studio.settings import Settings
from gafet_studio.widgets.drop_panel import paths_from_mime
from gafet_studio.widgets.fetch_dialog import FetchDialog, missing_assets
from gafet_studio.widgets.preview3d import MeshSet
from gafet_studio.widgets.status_bar import StudioStatusBar
from gafet_studio.widgets.workspace import Workspace


class MainWindow(QMainWindow):
    def __init__(
        self,
        *,
        settings: Settings | None = None,
        controller: Controller | None = None,
        preview_software: bool = False,
    ) -> None:
        super().__init__()
        self.setWindowTitle("GaFET Studio")
        self.setAcceptDrops(True)
        self.controller = c = controller or Controller(settings=settings, parent=self)
        if controller is not None:
            controller.setParent(self)
        self.settings = c.settings
        self.session = c.session
        self.workspace = ws = Workspace(preview_software=preview_software)
        self.setCentralWidget(ws)
        self.banner, self.source_panel, self.reference_panel = ws.banner, ws.source_panel, ws.reference_panel
        self.result_view, self.sliders, self.au_panel = ws.result_view, ws.sliders, ws.au_panel
        self.preview3d, self.editor_selector = ws.preview3d, ws.editor_selector
        self.menus = StudioMenus(
            self, undo_stack=c.undo_stack, recent=c.recent, models_folder=c.models_folder
        )
        self.dialogs = StudioDialogs(self, c)
        self.status_bar = StudioStatusBar()
        self.setStatusBar(self.status_bar)
        self._show_editors()
        self._connect()
        self.resize(1440, 900)
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        self.fetch_dialog: FetchDialog | None = None
        c.start()

    def _connect(self) -> None:
        s, c, m, d, view = self.session, self.controller, self.menus, self.dialogs, self.result_view.view
        s.sourceChanged.connect(self._show_source)
        s.referenceChanged.connect(self._show_reference)
        s.paramsChanged.connect(self._show_params)
        s.resultChanged.connect(self._show_result)
        s.notified.connect(self._show_notice)
        s.busyChanged.connect(self._show_busy)
        s.editorChanged.connect(self._show_editor)
        s.editorsChanged.connect(self._show_editors)
        self.source_panel.filesDropped.connect(lambda p: c.open_paths(p, "source"))
        self.reference_panel.filesDropped.connect(lambda p: c.open_paths(p, "reference"))
        self.source_panel.openRequested.connect(d.choose_source)
        self.reference_panel.openRequested.connect(d.choose_reference)
        self.source_panel.faceChosen.connect(c.select_face)
        self.reference_panel.view.boxClicked.connect(c.select_reference_face)
        self.reference_panel.presetChosen.connect(c.open_reference)
        self.reference_panel.presetFileRequested.connect(d.choose_preset)
        self.sliders.alphaMoved.connect(c.set_alpha)
        self.sliders.regionMoved.connect(c.set_region)
        self.sliders.resetRequested.connect(c.reset_params)
        self.au_panel.auMoved.connect(c.set_au)
        self.au_panel.auCleared.connect(lambda au: c.set_au(au, None))
        self.au_panel.resetRequested.connect(c.reset_aus)
        self.editor_selector.chosen.connect(c.choose_editor)
        self.editor_selector.openRequested.connect(d.choose_model)
        m.recentSource.connect(c.open_source)
        m.recentReference.connect(c.open_reference)
        c.engine.presetSaved.connect(lambda _: self.reference_panel.refresh_presets())
        for action, slot in (
            (m.open_source, d.choose_source), (m.open_reference, d.choose_reference),
            (m.open_model, d.choose_model), (m.rescan_models, c.refresh_editors),
            (m.load_preset, d.choose_preset), (m.save_preset, d.save_preset),
            (m.export, d.export), (m.batch, d.batch), (m.quit, self.close), (m.reset, c.reset_params),
            (m.fit, view.fit), (m.actual, view.actual_size), (m.zoom_in, lambda: view.zoom_by(1.25)),
            (m.zoom_out, lambda: view.zoom_by(0.8)), (m.before, self.result_view.before_button.toggle),
            (m.assets, lambda: self.ensure_assets(force_dialog=True)), (m.about, d.about),
        ):
            action.triggered.connect(slot)

    # -- session -> widgets ------------------------------------------------------------------
    def _show_source(self, state: SourceState | None) -> None:
        self.source_panel.show_source(state)
        self.result_view.set_before(state.image if state is not None else None)
        if self.session.result is None:
            self.result_view.set_after(None)
            self._show_meshes_without_result()

    def _show_reference(self, state: ReferenceState | None) -> None:
        self.reference_panel.show_reference(state)
        if self.session.result is None:
            self._show_meshes_without_result()

    def _show_meshes_without_result(self) -> None:
        """Before the first render: the source's and the reference's own meshes."""
        s, faces = self.session, self.controller.engine.mesh_faces()
        if faces is None:
            return
        source = s.source.prepared.vertices if s.source is not None else None
        reference = s.reference.prepared.vertices if s.reference is not None else None
        self.preview3d.set_meshes(MeshSet(faces=faces, source=source, reference=reference))

    def _show_params(self, params: EditParams) -> None:
        self.sliders.show_params(params)
        self.au_panel.show_params(params)

    def _show_result(self, rendered: Rendered | None) -> None:
        if rendered is None:
            self.result_view.set_after(None)
            self.status_bar.show_timings(None)
            return
        r, source = rendered.result, self.session.source
        if rendered.image is not None and source is not None:
            self.result_view.set_after(rendered.image, source.size)
        else:
            self.result_view.set_after(rendered.crop)
        self.au_panel.show_target(r.target_aus, AU_NAMES)
        self.status_bar.show_timings(r.timings)
        self.preview3d.set_meshes(
            MeshSet(faces=r.faces, source=r.source_vertices, reference=r.reference_vertices,
                    target=r.target_vertices)
        )

    def _show_notice(self, notice: Notice) -> None:
        self.banner.show_notice(notice)
        self.status_bar.show_notice(notice.text)

    def _show_busy(self, task: Task, busy: bool) -> None:
        if task == Task.MODEL and not busy:  # a model load ended: show the editor actually active
            self._show_editor()
        self.status_bar.show_busy(task, busy, self.session.busy())
        self.menus.export.setEnabled(not self.session.busy(Task.EXPORT))

    def _show_editors(self, *_: object) -> None:
        """The session's editor list in the selector (bad checkpoints disabled)."""
        self.editor_selector.show_entries(self.session.editors, self.session.editor)
        self._show_editor()

    def _show_editor(self, *_: object) -> None:
        """The session's active editor, in the selector and the status bar."""
        self.editor_selector.show_active(self.session.editor)
        self.status_bar.show_editor(self.session.editor_label())

    def ensure_assets(self, force_dialog: bool = False) -> None:
        """First run: fetch missing face models with a progress dialog (non-blocking worker)."""
        missing = missing_assets()
        if not missing and not force_dialog:
            self.controller.engine.warm_up()
            return
        if not missing:
            self.session.notify(NoticeLevel.INFO, "All face models are installed and ready.")
            return
        self.fetch_dialog = FetchDialog(missing, parent=self)
        self.fetch_dialog.done_ok.connect(self.controller.engine.warm_up)
        self.fetch_dialog.rejected.connect(self._assets_missing)
        self.fetch_dialog.open()
        self.fetch_dialog.start()

    def _assets_missing(self) -> None:
        dialog = self.fetch_dialog
        if missing_assets():
            why = dialog.failed_message if dialog is not None and dialog.failed_message else ""
            self.session.notify(
                NoticeLevel.ERROR,
                "The face models are not installed, so photos cannot be analysed. "
                f"{why} Use Tools ▸ Fetch Face Models… to try again.".strip(),
            )

    # -- window-level drops and closing ------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = paths_from_mime(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.controller.open_paths(paths, "window")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.set_window_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.sync()
        self.controller.shutdown()
        super().closeEvent(event)


def schedule_first_run(window: MainWindow) -> None:
    """After the event loop starts: fetch missing assets (or warm the pipeline up)."""
    QTimer.singleShot(0, window.ensure_assets)
