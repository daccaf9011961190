"""The Studio's main window: the workspace, the menus and the status bar, wired to the controller.

The panels are laid out by :class:`~gafet_studio.widgets.workspace.Workspace`, the actions live
in :class:`~gafet_studio.menus.StudioMenus`, and the intents that ask something first (a file, a
name, export and batch settings) in :class:`~gafet_studio.dialogs.StudioDialogs`. The window
holds no state of its own: it renders the session (its signals) and forwards the user's intents
to the controller. Once it has painted it fetches missing face models, then loads torch and the
face networks in the background (:class:`~gafet_studio.warmup.WarmUp`); a photo dropped before
they are ready waits in the pipeline's queue, and its panel says so with the warm-up's progress.

While a panel's work runs (analysing a photo, exporting or first rendering the result) the
panel shows a progress card with a percentage (:class:`~gafet_studio.widgets.overlay.ProgressOverlay`):
the work's own fraction when it reports one (:meth:`MainWindow.set_task_fraction`), else an
estimate from how long the same work took before. An error or warning in the banner clears
when a later action succeeds (a photo or preset loads, a result of new settings shows).
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QMainWindow

from core.editing.params import AU_NAMES, EditParams
from gafet_studio.controller import Controller
from gafet_studio.dialogs import StudioDialogs
from gafet_studio.menus import StudioMenus
from gafet_studio.session import Notice, NoticeLevel, ReferenceState, Rendered, SourceState, Task
from gafet_studio.settings import Settings
from gafet_studio.theme import Theme, ThemeFollower
from gafet_studio.video_driving import VideoDriving
from gafet_studio.warmup import WarmUp, WarmUpProgress
from gafet_studio.widgets.drop_panel import paths_from_mime
from gafet_studio.widgets.fetch_dialog import FetchDialog, missing_assets
from gafet_studio.widgets.overlay import DurationEstimate, ProgressOverlay, now
from gafet_studio.widgets.preview3d import MeshSet
from gafet_studio.widgets.status_bar import StudioStatusBar
from gafet_studio.widgets.workspace import Workspace

FIRST_PAINT_FALLBACK_MS = 1000  # a window that never painted (hidden) starts its work anyway
SHOW_PROGRESS_AFTER_S = 0.15  # a panel's progress card appears once its work ran this long
PROGRESS_TICK_MS = 100
# first guesses of how long each task takes (seconds); each finished run refines them
EXPECTED_S = {Task.SOURCE: 2.0, Task.REFERENCE: 2.0, Task.EXPORT: 3.0, Task.RENDER: 1.0}
PANEL_TEXT = {
    Task.SOURCE: "Analysing the source face…",
    Task.REFERENCE: "Analysing the reference…",
    Task.EXPORT: "Exporting…",
    Task.RENDER: "Rendering the edit…",
}


class MainWindow(QMainWindow):
    firstPainted = Signal()  # once, after the window's first frame (or FIRST_PAINT_FALLBACK_MS)

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
        self.video = VideoDriving(self)  # driving videos: the timeline, Export Video…
        self.status_bar = StudioStatusBar()
        self.setStatusBar(self.status_bar)
        self.theme = ThemeFollower(self.settings.theme(), self)
        self.theme.set_theme(self.settings.theme())
        self.menus.show_theme(self.settings.theme())
        self.warmup = WarmUp(self.session, c.engine.crop_size, parent=self)
        self._started: dict[Task, float] = {}  # task -> when it began (or stopped waiting)
        self._fractions: dict[Task, float] = {}  # task -> a fraction the work reported
        self._estimates = {task: DurationEstimate(s) for task, s in EXPECTED_S.items()}
        self._clear_on_result = False  # a parameter change after a problem: its result clears it
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(PROGRESS_TICK_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self._show_editors()
        self._connect()
        side = self.settings.side_by_side()
        self.menus.side_by_side.setChecked(side)
        self.result_view.set_side_by_side(side)
        self.resize(1440, 900)
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        self.fetch_dialog: FetchDialog | None = None
        # after the first frame (nothing competes with it): list the editors, load a remembered
        # model (workers that import torch); a window never painted starts after a second anyway
        self.painted = False
        self.installEventFilter(self)
        self.result_view.view.viewport().installEventFilter(self)
        self.firstPainted.connect(c.start)
        self.firstPainted.connect(self.preview3d.start_backend)  # OpenGL, where it works
        QTimer.singleShot(FIRST_PAINT_FALLBACK_MS, self, self._first_painted)  # dropped with the window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self and event.type() == QEvent.Type.Paint and not self.painted:
            QTimer.singleShot(0, self, self._first_painted)  # once this frame is drawn and flushed
        elif watched is self.result_view.view.viewport() and event.type() == QEvent.Type.Resize:
            self._tell_view_size()
        return super().eventFilter(watched, event)

    def _tell_view_size(self) -> None:
        """The engine makes live pictures at the result view's size (device px)."""
        viewport = self.result_view.view.viewport()
        r = viewport.devicePixelRatioF()
        self.controller.engine.set_view_size(round(viewport.width() * r), round(viewport.height() * r))

    def _first_painted(self) -> None:
        if not self.painted:
            self.painted = True
            self.removeEventFilter(self)
            self.firstPainted.emit()

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
        self.source_panel.filesDropped.connect(lambda p: self.video.open_paths(p, "source"))
        self.reference_panel.filesDropped.connect(lambda p: self.video.open_paths(p, "reference"))
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
        c.engine.exportProgress.connect(lambda p: self.set_task_fraction(Task.EXPORT, p.fraction))
        s.paramsChanged.connect(self._params_changed_after_problem)
        m.themeChosen.connect(self.set_theme)
        m.side_by_side.toggled.connect(self.set_side_by_side)
        self.warmup.progressed.connect(self._warmup_progressed)
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
        if state is not None:
            self.banner.clear_problem()
        self.source_panel.show_source(state)
        self.result_view.set_before(state.image if state is not None else None)
        if self.session.result is None:
            self.result_view.set_after(None)
            self._show_meshes_without_result()

    def _show_reference(self, state: ReferenceState | None) -> None:
        if state is not None:
            self.banner.clear_problem()
        self.reference_panel.show_reference(state)
        if state is None:
            self.result_view.set_reference(None)
        elif state.kind == "preset":
            self.result_view.set_reference(None, f"Expression preset\n“{state.label}”")
        else:
            self.result_view.set_reference(state.image)
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
        if self._clear_on_result and rendered.params == self.session.params:
            self._clear_on_result = False
            self.banner.clear_problem()
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
        if notice.level != NoticeLevel.INFO:
            self._clear_on_result = False
        self.banner.show_notice(notice)
        self.status_bar.show_notice(notice.text)

    def _params_changed_after_problem(self, _: EditParams) -> None:
        if self.banner.notice is not None and self.banner.notice.level != NoticeLevel.INFO:
            self._clear_on_result = True

    def _show_busy(self, task: Task, busy: bool) -> None:
        if task == Task.MODEL and not busy:  # a model load ended: show the editor actually active
            self._show_editor()
        self.status_bar.show_busy(task, busy, self.session.busy())
        self.menus.export.setEnabled(not self.session.busy(Task.EXPORT))
        self._track(task, busy)

    # -- progress on the panels ----------------------------------------------------------------
    def _track(self, task: Task, busy: bool) -> None:
        t = now()
        if busy:
            self._started[task] = t
            self._fractions.pop(task, None)
        else:
            began = self._started.pop(task, None)
            self._fractions.pop(task, None)
            if began is not None and task in self._estimates and t - began > 0.05:
                self._estimates[task].record(t - began)
            if task == Task.WARMUP:  # queued work starts now: its estimate counts from here
                for waiting in (Task.SOURCE, Task.REFERENCE):
                    if waiting in self._started:
                        self._started[waiting] = t
        if any(k in self._started for k in PANEL_TEXT):
            if not self._progress_timer.isActive():
                self._progress_timer.start()
        self._show_progress()

    def set_task_fraction(self, task: Task, fraction: float) -> None:
        """Work that reports its progress: show ``fraction`` (0..1) for ``task`` instead of the
        estimate, until the task ends."""
        if self.session.busy(task):
            self._fractions[task] = min(1.0, max(0.0, float(fraction)))
            self._show_progress()

    def _task_progress(self, task: Task, t: float) -> tuple[str, float] | None:
        """What ``task``'s panel shows now (text, fraction), or None (idle or just started)."""
        began = self._started.get(task)
        if began is None:
            return None
        if task in (Task.SOURCE, Task.REFERENCE) and self.session.busy(Task.WARMUP):
            w = self.warmup.progress
            return f"Queued until the face models are ready.\n{w.text}", w.fraction
        if t - began < SHOW_PROGRESS_AFTER_S:
            return None
        fraction = self._fractions.get(task, self._estimates[task].fraction(t - began))
        return PANEL_TEXT[task], fraction

    def _show_progress(self) -> None:
        t = now()
        overlays: list[tuple[ProgressOverlay, tuple[str, float] | None]] = [
            (self.source_panel.progress, self._task_progress(Task.SOURCE, t)),
            (self.reference_panel.progress, self._task_progress(Task.REFERENCE, t)),
        ]
        result = self._task_progress(Task.EXPORT, t)
        if result is None and self.session.result is None:  # the first render of a new pair
            result = self._task_progress(Task.RENDER, t)
        overlays.append((self.result_view.progress, result))
        for overlay, shown in overlays:
            if shown is None:
                overlay.hide()
            else:
                overlay.show_progress(*shown)
        if not any(k in self._started for k in PANEL_TEXT):
            self._progress_timer.stop()

    def _warmup_progressed(self, p: WarmUpProgress) -> None:
        if self.session.busy(Task.WARMUP):
            self.status_bar.showMessage(f"{p.text} {100 * p.fraction:.0f} %")
        self._show_progress()

    # -- view ----------------------------------------------------------------------------------
    def set_theme(self, theme: Theme) -> None:
        """Use ``theme`` (System follows the desktop) and remember it."""
        self.settings.set_theme(theme)
        self.menus.show_theme(theme)
        self.theme.set_theme(theme)

    def set_side_by_side(self, on: bool) -> None:
        self.result_view.set_side_by_side(on)
        self.settings.set_side_by_side(on)
        if self.menus.side_by_side.isChecked() != on:
            self.menus.side_by_side.setChecked(on)

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
            self.warmup.start()
            return
        if not missing:
            self.session.notify(NoticeLevel.INFO, "All face models are installed and ready.")
            return
        self.fetch_dialog = FetchDialog(missing, parent=self)
        self.fetch_dialog.done_ok.connect(self.warmup.start)
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
            self.video.open_paths(paths, "window")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.set_window_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.sync()
        self.video.shutdown()
        self.controller.shutdown()
        super().closeEvent(event)


def schedule_first_run(window: MainWindow) -> None:
    """Once the window has painted (so nothing competes with its first frame): fetch missing
    assets, else load torch and the networks in the background."""

    def first_run() -> None:
        if shiboken6.isValid(window):
            window.ensure_assets()

    if window.painted:
        QTimer.singleShot(0, first_run)
    else:
        window.firstPainted.connect(first_run, Qt.ConnectionType.SingleShotConnection)
