"""The main window's central widget: every panel, laid out; no behaviour of its own.

Layout: source over reference on the left, the result (before/after) in the middle, and on the
right the editor selector, the sliders and the action units (scrolling) over the 3D preview.
The notification banner floats over the top of the result, so showing it moves nothing. The
side columns keep their widths while photos and presets load (the window's resizes go to the
result). The window wires the panels to the session.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea, QSplitter, QVBoxLayout, QWidget

from gafet_studio.widgets.au_panel import AuPanel
from gafet_studio.widgets.banner import NotificationBanner
from gafet_studio.widgets.editor_selector import EditorSelector
from gafet_studio.widgets.panels import ReferencePanel, SourcePanel
from gafet_studio.widgets.preview3d import Preview3D
from gafet_studio.widgets.result_view import ResultView
from gafet_studio.widgets.sliders import EditSliders


class Workspace(QWidget):
    def __init__(self, *, preview_software: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = NotificationBanner()
        self.source_panel = SourcePanel()
        self.reference_panel = ReferencePanel()
        self.result_view = ResultView()
        self.editor_selector = EditorSelector()
        self.sliders = EditSliders()
        self.au_panel = AuPanel()
        self.preview3d = Preview3D(force_software=preview_software, deferred=True)

        left = self.left_column = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.source_panel)
        left.addWidget(self.reference_panel)
        left.setMinimumWidth(240)
        controls = QWidget()
        c = QVBoxLayout(controls)
        c.setContentsMargins(6, 6, 6, 6)
        c.addWidget(self.editor_selector)
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
        main = self.columns = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(self.result_view)
        main.addWidget(right)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 1)
        main.setStretchFactor(2, 0)
        main.setSizes([320, 740, 380])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(main, 1)
        self.banner.float_over(self.result_view)
