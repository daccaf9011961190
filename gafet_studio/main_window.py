"""The Studio's main window: composes the panels, menus, status bar; wires them to the controller.

Layout: source and reference panels on the left, the result (before/after) in the middle, the
sliders and the 3D preview on the right, a notification banner over everything. The window
holds no state of its own: it renders the session and forwards intents to the controller.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.editing.params import AU_NAMES
from core.geometry.presets import NAME_RE as PRESET_NAME
from gafet_studio.controller import IMAGE_SUFFIXES, Controller
from gafet_studio.menus import StudioMenus
from gafet_studio.session import Notice, Rendered, SourceState
from gafet_studio.settings import Settings
from gafet_studio.widgets.au_panel import AuPanel
from gafet_studio.widgets.banner import NotificationBanner
from gafet_studio.widgets.batch_dialog import BatchDialog
from gafet_studio.widgets.drop_panel import paths_from_mime
from gafet_studio.widgets.export_dialog import ExportDialog
from gafet_studio.widgets.fetch_dialog import FetchDialog, missing_assets
from gafet_studio.widgets.panels import ReferencePanel, SourcePanel, user_preset_folder
from gafet_studio.widgets.preview3d import MeshSet, Preview3D
from gafet_studio.widgets.result_view import ResultView
from gafet_studio.widgets.sliders import EditSliders

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;All files (*)"
MODEL_FILTER = "GaFET checkpoints (*.safetensors);;All files (*)"
BUSY_TEXT = {
    "source": "Analysing the source face…",
    "reference": "Analysing the reference…",
    "render": "Rendering…",
    "export": "Exporting…",
    "preset": "Saving preset…",
    "warmup": "Loading the face models…",
    "model": "Loading the GaFET model…",
    "models": "Looking for GaFET models…",
}


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
        self.controller = controller or Controller(settings=settings, parent=self)
        if controller is not None:
            controller.setParent(self)
        self.settings = self.controller.settings
        self.session = self.controller.session
        self._build_widgets(preview_software)
        self.menus = StudioMenus(self)
        self._build_status_bar()
        self._connect()
        self.resize(1440, 900)
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        self.fetch_dialog: FetchDialog | None = None
        self.controller.start()

    # -- construction ------------------------------------------------------------------------
    def _build_widgets(self, preview_software: bool) -> None:
        self.banner = NotificationBanner()
        self.source_panel = SourcePanel()
        self.reference_panel = ReferencePanel()
        self.result_view = ResultView()
        self.sliders = EditSliders()
        self.au_panel = AuPanel()
        self.preview3d = Preview3D(force_software=preview_software)
        self.editor_combo = QComboBox()
        self.editor_combo.setToolTip("The editor that produces the picture")
        self.open_model_button = QToolButton()
        self.open_model_button.setText("…")
        self.open_model_button.setToolTip("Open a GaFET model (.safetensors) from anywhere")

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.source_panel)
        left.addWidget(self.reference_panel)
        controls = QWidget()
        c = QVBoxLayout(controls)
        c.setContentsMargins(6, 6, 6, 6)
        c.addWidget(QLabel("<b>Editor</b>"))
        editor_row = QHBoxLayout()
        editor_row.addWidget(self.editor_combo, 1)
        editor_row.addWidget(self.open_model_button)
        c.addLayout(editor_row)
        c.addWidget(self.sliders)
        c.addWidget(self.au_panel)
        c.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(controls)
        scroll.setMinimumWidth(370)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(scroll)
        right.addWidget(self.preview3d)
        right.setSizes([560, 300])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(self.result_view)
        main.addWidget(right)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 1)
        main.setStretchFactor(2, 0)
        main.setSizes([320, 740, 380])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(main, 1)
        self.setCentralWidget(central)

    def _fill_editors(self, *_: object) -> None:
        """Render the session's editor list (bad checkpoints disabled, the problem as tooltip)."""
        combo = self.editor_combo
        combo.blockSignals(True)
        combo.clear()
        for choice in self.session.editors:
            combo.addItem(choice.label, choice.id)
            i = combo.count() - 1
            combo.setItemData(i, choice.tooltip, Qt.ItemDataRole.ToolTipRole)
            if not choice.enabled:
                combo.model().item(i).setEnabled(False)
        combo.blockSignals(False)
        self._show_editor(self.session.editor_id)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.hide()
        self.timings_label = QLabel("")
        self.editor_label = QLabel("")
        sb.addPermanentWidget(self.busy_bar)
        sb.addPermanentWidget(self.timings_label)
        sb.addPermanentWidget(self.editor_label)
        self._fill_editors()
        sb.showMessage("Drop a source portrait and a reference expression photo to begin.")

    def _connect(self) -> None:
        s, c = self.session, self.controller
        s.sourceChanged.connect(self._show_source)
        s.referenceChanged.connect(self._show_reference)
        s.paramsChanged.connect(self._show_params)
        s.resultChanged.connect(self._show_result)
        s.notified.connect(self._show_notice)
        s.busyChanged.connect(self._show_busy)
        s.editorChanged.connect(self._show_editor)
        s.editorsChanged.connect(self._fill_editors)
        self.source_panel.filesDropped.connect(lambda p: c.open_paths(p, "source"))
        self.reference_panel.filesDropped.connect(lambda p: c.open_paths(p, "reference"))
        self.source_panel.openRequested.connect(self.choose_source)
        self.reference_panel.openRequested.connect(self.choose_reference)
        self.source_panel.faceChosen.connect(c.select_face)
        self.reference_panel.view.boxClicked.connect(c.select_reference_face)
        self.reference_panel.presetChosen.connect(c.open_reference)
        self.reference_panel.presetFileRequested.connect(self.choose_preset)
        self.sliders.alphaMoved.connect(c.set_alpha)
        self.sliders.regionMoved.connect(c.set_region)
        self.sliders.resetRequested.connect(c.reset_params)
        self.au_panel.auMoved.connect(c.set_au)
        self.au_panel.auCleared.connect(lambda au: c.set_au(au, None))
        self.au_panel.resetRequested.connect(c.reset_aus)
        self.editor_combo.activated.connect(self._editor_chosen)
        self.open_model_button.clicked.connect(self.choose_model)
        c.recent.changed.connect(self.menus.fill_recent)
        c.engine.presetSaved.connect(lambda _: self.reference_panel.refresh_presets())

    # -- session -> widgets ------------------------------------------------------------------
    def _show_source(self, state: SourceState | None) -> None:
        self.source_panel.show_source(state)
        self.result_view.set_before(state.image if state is not None else None)
        if self.session.result is None:
            self.result_view.set_after(None)
            self._show_meshes_without_result()

    def _show_reference(self, state) -> None:
        self.reference_panel.show_reference(state)
        if self.session.result is None:
            self._show_meshes_without_result()

    def _show_meshes_without_result(self) -> None:
        """Before the first render: the source's and the reference's own meshes."""
        s, faces = self.session, self.controller.engine.mesh_faces()
        if faces is None:
            return
        source = s.source.prepared.vertices if s.source is not None else None
        reference = getattr(s.reference.prepared, "vertices", None) if s.reference is not None else None
        self.preview3d.set_meshes(MeshSet(faces=faces, source=source, reference=reference))

    def _show_params(self, params) -> None:
        self.sliders.show_params(params)
        self.au_panel.show_params(params)

    def _show_result(self, rendered: Rendered | None) -> None:
        if rendered is None:
            self.result_view.set_after(None)
            self.timings_label.setText("")
            return
        r = rendered.result
        source = self.session.source
        if rendered.image is not None and source is not None:
            self.result_view.set_after(rendered.image, source.size)
        else:
            self.result_view.set_after(rendered.crop)
        self.au_panel.show_target(getattr(r, "target_aus", None), AU_NAMES)
        t = getattr(r, "timings", None)
        if t is not None:
            self.timings_label.setText(
                f"geometry {t.interpolate_ms:.0f} ms · render {t.render_ms:.0f} ms · "
                f"editor {t.editor_ms:.0f} ms · paste {t.paste_ms:.0f} ms · total {t.total_ms:.0f} ms"
            )
        faces = getattr(r, "faces", None)
        if faces is not None:
            self.preview3d.set_meshes(
                MeshSet(
                    faces=faces,
                    source=r.source_vertices,
                    reference=r.reference_vertices,
                    target=r.target_vertices,
                )
            )

    def _show_notice(self, notice: Notice) -> None:
        self.banner.show_notice(notice)
        self.statusBar().showMessage(notice.text, 10000)

    def _show_busy(self, task: str, busy: bool) -> None:
        if task == "model" and not busy:  # a model load ended: show the editor actually active
            self._show_editor(self.session.editor_id)
        self.busy_bar.setVisible(self.session.busy())
        if busy:
            self.statusBar().showMessage(BUSY_TEXT.get(task, "Working…"))
        elif not self.session.busy():
            self.statusBar().clearMessage()
        self.export_action.setEnabled(not self.session.busy("export"))

    def _show_editor(self, editor_id: str) -> None:
        """Show the session's active editor in the selector and the status bar."""
        combo = self.editor_combo
        combo.blockSignals(True)
        combo.setCurrentIndex(combo.findData(editor_id))  # -1 (blank) while it is not listed yet
        combo.blockSignals(False)
        self.editor_label.setText(f"Editor: {self.session.editor_label()}")

    def _editor_chosen(self, index: int) -> None:
        """The user picked an entry: the selector shows it while it loads; the session switches
        once it loaded (a failure shows the banner and the selector returns to the active one)."""
        editor_id = self.editor_combo.itemData(index)
        if editor_id is not None:
            self.controller.choose_editor(editor_id)

    # -- user intents ------------------------------------------------------------------------
    def choose_source(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Open source portrait", self.settings.last_folder("open"), IMAGE_FILTER
        )
        if name:
            self.controller.open_source(name)

    def choose_reference(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Open reference expression", self.settings.last_folder("open"), IMAGE_FILTER
        )
        if name:
            self.controller.open_reference(name)

    def choose_preset(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Load expression preset", self.settings.last_folder("preset"), "Expression presets (*.json)"
        )
        if name:
            self.controller.open_reference(name)

    def choose_model(self) -> None:
        """File ▸ Open Model…: pick a checkpoint; it loads in a worker, then is listed and chosen."""
        start = self.settings.last_folder("model")  # home when none is remembered yet
        if start == str(Path.home()) and self.controller.models_folder.is_dir():
            start = str(self.controller.models_folder)
        name, _ = QFileDialog.getOpenFileName(self, "Open GaFET model", start, MODEL_FILTER)
        if name:
            self.controller.open_model(name)

    def save_preset(self) -> None:
        """Ask for a name; save the current expression to the user's presets (confirm a replace)."""
        if self.session.result is None:
            self.session.notify(
                "warning", "There is no expression to save yet: load a source and a reference."
            )
            return
        name, ok = QInputDialog.getText(
            self,
            "Save expression preset",
            "Name (letters, digits, spaces, '_', '.', '-'):",
            text="my expression",
        )
        name = name.strip()
        if not ok or not name:
            return
        if not PRESET_NAME.match(name):
            self.session.notify(
                "error",
                f"'{name}' cannot be a preset name: use 1-64 letters, digits, spaces, '_', '.' or '-'.",
            )
            return
        folder = user_preset_folder()
        target = folder / (name.replace(" ", "_") + ".json")
        overwrite = False
        if target.exists():
            answer = QMessageBox.question(
                self, "Replace preset?", f"A preset named '{name}' exists. Replace it?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
            overwrite = True
        self.controller.save_preset(name, folder, overwrite=overwrite)

    def make_export_dialog(self) -> ExportDialog | None:
        s = self.session
        if not s.ready():
            s.notify(
                "warning", "Load a source portrait and a reference first; there is nothing to export yet."
            )
            return None
        protect = [p for p in (s.source.path, s.reference.path) if p is not None]
        return ExportDialog(
            settings=self.settings,
            source_path=s.source.path,
            photo_size=s.source.size,
            crop_size=self.controller.engine.crop_size,
            protect=protect,
            parent=self,
        )

    def export(self) -> None:
        dialog = self.make_export_dialog()
        if dialog is not None and dialog.exec() and dialog.request is not None:
            self.controller.export(dialog.request)

    def make_batch_dialog(self) -> BatchDialog | None:
        s = self.session
        if s.reference is None:
            s.notify(
                "warning", "Choose a reference photo or preset first: the batch applies it to every photo."
            )
            return None
        template = {
            "reference": s.reference.prepared,
            "reference_path": s.reference.path,
            "label": s.reference.label,
            "params": s.params,
            "editor_id": s.editor_id,
            "crop_size": self.controller.engine.crop_size,
        }
        return BatchDialog(job_template=template, start_folder=self.settings.last_folder("open"), parent=self)

    def batch(self) -> None:
        dialog = self.make_batch_dialog()
        if dialog is not None:
            dialog.finished_batch.connect(
                lambda ok, bad, cancelled: self.session.notify(
                    "info" if not bad else "warning",
                    f"Batch {'cancelled' if cancelled else 'finished'}: {ok} edited, {bad} skipped.",
                )
            )
            dialog.exec()

    def ensure_assets(self, force_dialog: bool = False) -> None:
        """First run: fetch missing face models with a progress dialog (non-blocking worker)."""
        missing = missing_assets()
        if not missing and not force_dialog:
            self.controller.engine.warm_up()
            return
        if not missing:
            self.session.notify("info", "All face models are installed and ready.")
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
                "error",
                "The face models are not installed, so photos cannot be analysed. "
                f"{why} Use Tools ▸ Fetch Face Models… to try again.".strip(),
            )

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About GaFET Studio",
            "GaFET Studio puts a reference photo's facial expression on a source portrait "
            "(GaFET, ICCV 2023), keeping identity, pose, hair, lighting and background.",
        )

    # -- window-level drops and closing ------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
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
