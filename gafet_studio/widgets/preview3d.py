"""3D geometry preview of the source, reference and target meshes, rotated with the mouse.

Two back ends behind one widget:

* OpenGL: pyqtgraph's ``GLViewWidget`` with one ``GLMeshItem`` per mesh (orbit with the mouse),
  the camera placed so the meshes fill the panel.
* Software: the project's rasterizer (:mod:`gafet_studio.mesh_preview`) renders the meshes in a
  worker, as large as the panel allows (one row, or a grid in a tall panel); the image is shown
  and a mouse drag rotates it. Used whenever OpenGL cannot work: the ``offscreen`` platform
  (``GLViewWidget`` crashes there), no GL context, or ``GAFET_PREVIEW3D=software``.

New meshes arrive with every picture, and during a slider drag that is up to 60 times a second;
the software view renders them at most every :data:`MESH_UPDATE_MS` (the latest set, and always
the last one once they rest), so the 3D preview does not compete with the live pictures for the
CPU. Equal meshes are not rendered again.

Both turn DEG_PER_PX degrees per pixel dragged, within ±MAX_YAW / ±MAX_PITCH of the front view
(a face seen from behind shows nothing). The mesh toggles double as the colour legend: each
carries its mesh's tint.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import shiboken6
from PySide6.QtCore import QElapsedTimer, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from gafet_studio.image_convert import to_qimage
from gafet_studio.mesh_preview import PreviewMesh, grid_for, render_meshes
from gafet_studio.workers import FunctionWorker, LatestWins, aux_pool

KINDS = ("source", "reference", "target")
GL_DISTANCE = 7.5  # the camera's distance before the panel's size is known
GL_FOV = 60.0  # pyqtgraph's default horizontal field of view (degrees)
GL_SPACING = 2.2  # between mesh centres (each mesh fits in a unit sphere)
DEG_PER_PX = 0.35  # rotation per pixel dragged
MAX_YAW, MAX_PITCH = 80.0, 50.0  # how far from the front view a drag turns the meshes
FRONT_YAW, FRONT_PITCH = 20.0, 6.0  # the software view's start (and reset) angles
MESH_UPDATE_MS = 200  # the software view renders new meshes at most this often (5 Hz)
LABEL_H = 18  # px of caption above each software tile
TINTS = {"source": (0.62, 0.72, 0.95), "reference": (0.98, 0.74, 0.52), "target": (0.62, 0.92, 0.62)}
LABELS = {"source": "Source", "reference": "Reference", "target": "Target (edited)"}


@dataclass(frozen=True)
class MeshSet:
    """The meshes to show: each (468, 3) float32 crop px or None; faces (F, 3)."""

    faces: np.ndarray
    source: np.ndarray | None = None
    reference: np.ndarray | None = None
    target: np.ndarray | None = None


def _platform_reason() -> str:
    """Why the environment rules OpenGL out ('' when it may work): no heavy imports."""
    if os.environ.get("GAFET_PREVIEW3D", "").lower() == "software":
        return "GAFET_PREVIEW3D=software"
    platform = QGuiApplication.platformName()
    if platform in ("offscreen", "minimal", "vnc"):
        return f"the '{platform}' Qt platform has no OpenGL"
    return ""


def _context_reason() -> str:
    """Why no OpenGL context works here ('' when one does). GUI thread only."""
    try:
        from PySide6.QtGui import QOffscreenSurface, QOpenGLContext
    except ImportError as err:  # pragma: no cover - PySide6 always has them
        return str(err)
    ctx = QOpenGLContext()
    if not ctx.create():
        return "no OpenGL context could be created"
    surface = QOffscreenSurface()
    surface.create()
    ok = ctx.makeCurrent(surface)
    if ok:
        ctx.doneCurrent()
    surface.destroy()
    return "" if ok else "the OpenGL context could not be made current"


def _import_gl() -> str:
    """Import pyqtgraph.opengl (about a second of CPU: a worker may do it); '' or why it failed."""
    try:
        import pyqtgraph.opengl  # noqa: F401
    except Exception as err:  # PyOpenGL missing or broken
        return f"pyqtgraph.opengl is unavailable ({err})"
    return ""


def opengl_usable() -> tuple[bool, str]:
    """Whether the GL back end can work here, and if not why."""
    why = _platform_reason() or _context_reason() or _import_gl()
    return not why, why


class SoftwareMeshView(QWidget):
    """Shows software renders; a mouse drag rotates (yaw, pitch) and re-renders in a worker."""

    rendered = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 120)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.yaw, self.pitch = FRONT_YAW, FRONT_PITCH
        self.tile, self.tile_height = 192, 192
        self.columns = 3
        self._meshes: list[PreviewMesh] = []
        self._faces: np.ndarray | None = None
        self._image: QImage | None = None
        self._drag: QPointF | None = None
        self._runner = LatestWins(aux_pool, self)
        self._runner.returned.connect(self._on_image)
        self._runner.errored.connect(self._on_error)
        self.render_count = 0
        self.error = ""
        self._since = QElapsedTimer()  # since the last render of new meshes was asked for
        self._later = QTimer(self)  # the held-back render of the latest meshes
        self._later.setSingleShot(True)
        self._later.timeout.connect(self._request_meshes)

    def set_meshes(self, meshes: list[PreviewMesh], faces: np.ndarray | None) -> None:
        """Show ``meshes``: rendered now, or (new meshes within :data:`MESH_UPDATE_MS` of the
        last) once that interval has passed, whichever set is the latest then."""
        if _same(meshes, self._meshes) and _same_array(faces, self._faces) and not self._later.isActive():
            return
        self._meshes, self._faces = meshes, faces
        if self._later.isActive():
            return  # the held-back render will take these
        if self._since.isValid() and self._since.elapsed() < MESH_UPDATE_MS:
            self._later.start(MESH_UPDATE_MS - int(self._since.elapsed()))
            return
        self._request_meshes()

    def _request_meshes(self) -> None:
        self._since.start()
        self.request()

    def image(self) -> QImage | None:
        return self._image

    def busy(self) -> bool:
        return self._runner.busy()

    def set_view(self, yaw: float, pitch: float) -> None:
        self.yaw = max(-MAX_YAW, min(MAX_YAW, yaw))
        self.pitch = max(-MAX_PITCH, min(MAX_PITCH, pitch))
        self.request()

    def _layout(self) -> tuple[int, int, int]:
        """(columns, tile width, tile height) px that fill this widget with the meshes on show."""
        return grid_for(len(self._meshes), self.width() - 4, self.height() - 4, label=LABEL_H)

    def request(self) -> None:
        if not self._meshes or self._faces is None:
            self._image = None
            self.update()
            return
        self.columns, self.tile, self.tile_height = self._layout()
        self._runner.request(
            _render_job, list(self._meshes), self._faces, self.yaw, self.pitch, self._layout()
        )

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        shown = (self.columns, self.tile, self.tile_height)
        if self._meshes and self._faces is not None and self._layout() != shown:
            self.request()  # coalesced: a drag-resize renders the last size only

    def _on_image(self, gen: int, image: QImage) -> None:
        self._image, self.error = image, ""
        self.render_count += 1
        self.update()
        self.rendered.emit()

    def _on_error(self, gen: int, exc: BaseException) -> None:
        self.error = f"3D preview failed: {type(exc).__name__}: {exc}"
        self._image = None
        self.update()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event) -> None:
        if self._drag is None:
            return
        d = event.position() - self._drag
        self._drag = event.position()
        self.set_view(self.yaw + d.x() * DEG_PER_PX, self.pitch - d.y() * DEG_PER_PX)

    def mouseReleaseEvent(self, event) -> None:
        self._drag = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(43, 43, 43))
        if self._image is None or not self._meshes:
            p.setPen(QColor("#a0a0a0"))
            text = self.error or "3D geometry appears here"
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
            return
        img, n = self._image, len(self._meshes)
        cols = max(1, min(self.columns, n))
        rows = -(-n // cols)
        # the render fills the widget; until a resized one arrives, scale the last one to fit
        s = min(self.width() / img.width(), (self.height() - rows * LABEL_H) / img.height(), 1e9)
        w, h = img.width() * s, img.height() * s
        cell_w, cell_h = w / cols, h / rows
        x0 = (self.width() - w) / 2
        y0 = (self.height() - h - rows * LABEL_H) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for r in range(rows):  # each row of tiles under its captions
            top = y0 + r * (cell_h + LABEL_H)
            source = QRectF(0, r * img.height() / rows, img.width(), img.height() / rows)
            p.drawImage(QRectF(x0, top + LABEL_H, w, cell_h), img, source)
        for i, m in enumerate(self._meshes):
            r, c = divmod(i, cols)
            p.setPen(QColor.fromRgbF(*m.tint))
            caption = QRectF(x0 + c * cell_w, y0 + r * (cell_h + LABEL_H), cell_w, LABEL_H)
            p.drawText(caption, Qt.AlignmentFlag.AlignCenter, m.label)


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is b or (a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b))


def _same(a: list[PreviewMesh], b: list[PreviewMesh]) -> bool:
    """Whether two mesh lists would render the same picture."""
    return len(a) == len(b) and all(
        m.tint == n.tint and m.label == n.label and _same_array(m.vertices, n.vertices)
        for m, n in zip(a, b, strict=True)
    )


def _render_job(
    meshes: list[PreviewMesh], faces: np.ndarray, yaw: float, pitch: float, grid: tuple[int, int, int]
) -> QImage:
    cols, w, h = grid
    return to_qimage(render_meshes(meshes, faces, yaw=yaw, pitch=pitch, tile=w, tile_height=h, columns=cols))


class GLMeshView(QWidget):
    """The OpenGL back end: one shaded GLMeshItem per mesh, laid out left to right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph.opengl as gl

        class OrbitView(gl.GLViewWidget):
            """Turns DEG_PER_PX per pixel dragged, within reach of the front view."""

            def orbit(self, azim: float, elev: float) -> None:
                o = self.opts
                o["azimuth"] = max(-90 - MAX_YAW, min(-90 + MAX_YAW, o["azimuth"] + azim * DEG_PER_PX))
                o["elevation"] = max(-MAX_PITCH, min(MAX_PITCH, o["elevation"] + elev * DEG_PER_PX))
                self.update()

        self._gl = gl
        self.view = OrbitView()
        self.view.setBackgroundColor(QColor(43, 43, 43))
        self.view.setCameraPosition(distance=GL_DISTANCE, elevation=8, azimuth=-90)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._items: list[object] = []
        self._count = 0

    def fitting_distance(self) -> float:
        """The camera distance at which the meshes laid out left to right fill the view."""
        n = max(1, self._count)
        half_w = ((n - 1) * GL_SPACING + 2.0) / 2 * 1.04  # the row's half width, a little margin
        half_h = 1.04
        tan = math.tan(math.radians(GL_FOV / 2))
        aspect = max(1, self.view.height()) / max(1, self.view.width())
        return max(half_w / tan, half_h / (tan * aspect)) + 1.0  # + the meshes' depth in front

    def fit(self) -> None:
        self.view.setCameraPosition(distance=self.fitting_distance())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    def set_meshes(self, meshes: list[PreviewMesh], faces: np.ndarray | None) -> None:
        for item in self._items:
            self.view.removeItem(item)
        self._items = []
        if faces is None:
            return
        n = len(meshes)
        for i, m in enumerate(meshes):
            v = np.asarray(m.vertices, np.float64)
            centre = (v.max(0) + v.min(0)) / 2
            v = (v - centre) / (np.linalg.norm(v - centre, axis=1).max() or 1.0)
            # crop px (x right, y down, z away from the viewer) -> pyqtgraph (z up; the camera sits on -y)
            v = np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)
            v[:, 0] += (i - (n - 1) / 2) * GL_SPACING
            tris = np.ascontiguousarray(np.asarray(faces, np.int32)[:, ::-1])  # the axis swap flips winding
            md = self._gl.MeshData(vertexes=v.astype(np.float32), faces=tris)
            item = self._gl.GLMeshItem(meshdata=md, smooth=True, shader="shaded", color=(*m.tint, 1.0))
            self.view.addItem(item)
            self._items.append(item)
        self._count = n
        self.fit()

    def grab_image(self) -> QImage:
        return self.view.grabFramebuffer()


class Preview3D(QWidget):
    """Toggles for the three meshes, a reset-view button, and the back end that draws them.

    deferred: choose the back end later, in :meth:`start_backend` (the Studio calls it once its
    window has painted: loading pyqtgraph's OpenGL costs about a second); the software view
    draws until then.
    """

    def __init__(
        self, parent: QWidget | None = None, *, force_software: bool = False, deferred: bool = False
    ) -> None:
        super().__init__(parent)
        self._pending_gl = False
        if force_software:
            ok, why = False, "software rendering was asked for"
        elif deferred and not _platform_reason():
            ok, why = False, "OpenGL is starting"
            self._pending_gl = True
        else:
            ok, why = opengl_usable()
        self.backend_name = "opengl" if ok else "software"
        self.fallback_reason = why
        self.canvas: GLMeshView | SoftwareMeshView = GLMeshView() if ok else SoftwareMeshView()
        self.toggles: dict[str, QCheckBox] = {}
        bar = QHBoxLayout()
        for kind in KINDS:
            box = QCheckBox(LABELS[kind])
            box.setIcon(_swatch(TINTS[kind]))  # the legend: each toggle shows its mesh's colour
            box.setToolTip(f"Show the {LABELS[kind].lower()} mesh (drawn in this colour)")
            box.setChecked(True)
            box.toggled.connect(self._refresh)
            self.toggles[kind] = box
            bar.addWidget(box)
        bar.addStretch(1)
        reset = QPushButton("Reset view")
        reset.clicked.connect(self.reset_view)
        bar.addWidget(reset)
        self.note = QLabel("OpenGL" if ok else f"software render ({why})")
        self.note.setStyleSheet("color: palette(mid); font-size: 10px;")
        self._stack = stack = QStackedLayout()
        stack.addWidget(self.canvas)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addLayout(stack, 1)
        layout.addWidget(self.note)
        self._meshes = MeshSet(faces=np.zeros((0, 3), np.int64))

    def start_backend(self) -> None:
        """Deferred: import pyqtgraph's OpenGL in a worker, then switch to it if a context works."""
        if not self._pending_gl:
            return
        self._pending_gl = False
        worker = FunctionWorker(_import_gl)
        worker.signals.returned.connect(self._gl_imported)
        worker.start(aux_pool())

    def _gl_imported(self, why: str) -> None:
        if not shiboken6.isValid(self):
            return
        why = why or _context_reason()
        self.fallback_reason = why
        if why:
            self.note.setText(f"software render ({why})")
            return
        software, self.canvas = self.canvas, GLMeshView()
        self._stack.addWidget(self.canvas)
        self._stack.setCurrentWidget(self.canvas)
        self._stack.removeWidget(software)
        software.deleteLater()
        self.backend_name = "opengl"
        self.note.setText("OpenGL")
        self._refresh()

    def set_meshes(self, meshes: MeshSet) -> None:
        self._meshes = meshes
        self._refresh()

    def visible_meshes(self) -> list[PreviewMesh]:
        out = []
        for kind in KINDS:
            v = getattr(self._meshes, kind)
            if v is not None and self.toggles[kind].isChecked():
                out.append(PreviewMesh(np.asarray(v, np.float32), TINTS[kind], LABELS[kind]))
        return out

    def _refresh(self) -> None:
        faces = self._meshes.faces if len(self._meshes.faces) else None
        self.canvas.set_meshes(self.visible_meshes(), faces)

    def reset_view(self) -> None:
        if isinstance(self.canvas, SoftwareMeshView):
            self.canvas.set_view(FRONT_YAW, FRONT_PITCH)
        else:
            distance = self.canvas.fitting_distance()
            self.canvas.view.setCameraPosition(distance=distance, elevation=8, azimuth=-90)


def _swatch(tint: tuple[float, float, float], size: int = 12) -> QIcon:
    """A square of ``tint`` (RGB 0..1), the legend's colour sample."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor.fromRgbF(*tint))
    return QIcon(pixmap)
