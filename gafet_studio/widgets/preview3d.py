"""3D geometry preview of the source, reference and target meshes, rotated with the mouse.

Two back ends behind one widget:

* OpenGL: pyqtgraph's ``GLViewWidget`` with one ``GLMeshItem`` per mesh (orbit with the mouse).
* Software: the project's rasterizer (:mod:`gafet_studio.mesh_preview`) renders the meshes in a
  worker; the image is shown and a mouse drag rotates it. Used whenever OpenGL cannot work:
  the ``offscreen`` platform (``GLViewWidget`` crashes there), no GL context, or
  ``GAFET_PREVIEW3D=software``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
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
from gafet_studio.mesh_preview import PreviewMesh, render_meshes
from gafet_studio.workers import LatestWins, aux_pool

KINDS = ("source", "reference", "target")
GL_DISTANCE = 7.5
TINTS = {"source": (0.62, 0.72, 0.95), "reference": (0.98, 0.74, 0.52), "target": (0.62, 0.92, 0.62)}
LABELS = {"source": "Source", "reference": "Reference", "target": "Target (edited)"}


@dataclass(frozen=True)
class MeshSet:
    """The meshes to show: each (468, 3) float32 crop px or None; faces (F, 3)."""

    faces: np.ndarray
    source: np.ndarray | None = None
    reference: np.ndarray | None = None
    target: np.ndarray | None = None


def opengl_usable() -> tuple[bool, str]:
    """Whether the GL back end can work here, and if not why."""
    choice = os.environ.get("GAFET_PREVIEW3D", "").lower()
    if choice == "software":
        return False, "GAFET_PREVIEW3D=software"
    platform = QGuiApplication.platformName()
    if platform in ("offscreen", "minimal", "vnc"):
        return False, f"the '{platform}' Qt platform has no OpenGL"
    try:
        from PySide6.QtGui import QOffscreenSurface, QOpenGLContext
    except ImportError as err:  # pragma: no cover - PySide6 always has them
        return False, str(err)
    ctx = QOpenGLContext()
    if not ctx.create():
        return False, "no OpenGL context could be created"
    surface = QOffscreenSurface()
    surface.create()
    ok = ctx.makeCurrent(surface)
    if ok:
        ctx.doneCurrent()
    surface.destroy()
    if not ok:
        return False, "the OpenGL context could not be made current"
    try:
        import pyqtgraph.opengl  # noqa: F401
    except Exception as err:  # PyOpenGL missing or broken
        return False, f"pyqtgraph.opengl is unavailable ({err})"
    return True, ""


class SoftwareMeshView(QWidget):
    """Shows software renders; a mouse drag rotates (yaw, pitch) and re-renders in a worker."""

    rendered = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 120)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.yaw, self.pitch = 25.0, 8.0
        self.tile = 192
        self._meshes: list[PreviewMesh] = []
        self._faces: np.ndarray | None = None
        self._image: QImage | None = None
        self._drag: QPointF | None = None
        self._runner = LatestWins(aux_pool, self)
        self._runner.returned.connect(self._on_image)
        self._runner.errored.connect(self._on_error)
        self.render_count = 0
        self.error = ""

    def set_meshes(self, meshes: list[PreviewMesh], faces: np.ndarray | None) -> None:
        self._meshes, self._faces = meshes, faces
        self.request()

    def image(self) -> QImage | None:
        return self._image

    def busy(self) -> bool:
        return self._runner.busy()

    def set_view(self, yaw: float, pitch: float) -> None:
        self.yaw, self.pitch = yaw, max(-89.0, min(89.0, pitch))
        self.request()

    def request(self) -> None:
        if not self._meshes or self._faces is None:
            self._image = None
            self.update()
            return
        self._runner.request(_render_job, list(self._meshes), self._faces, self.yaw, self.pitch, self.tile)

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
        self.set_view(self.yaw + d.x() * 0.5, self.pitch - d.y() * 0.5)

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
        img = self._image
        s = min(self.width() / img.width(), (self.height() - 18) / img.height())
        w, h = img.width() * s, img.height() * s
        x0, y0 = (self.width() - w) / 2, 18 + (self.height() - 18 - h) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(QRectF(x0, y0, w, h), img)
        p.setPen(QColor("#d0d0d0"))
        n = len(self._meshes)
        for i, m in enumerate(self._meshes):
            p.drawText(QRectF(x0 + i * w / n, 0, w / n, 18), Qt.AlignmentFlag.AlignCenter, m.label)


def _render_job(meshes: list[PreviewMesh], faces: np.ndarray, yaw: float, pitch: float, tile: int) -> QImage:
    return to_qimage(render_meshes(meshes, faces, yaw=yaw, pitch=pitch, tile=tile))


class GLMeshView(QWidget):
    """The OpenGL back end: one shaded GLMeshItem per mesh, laid out left to right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph.opengl as gl

        self._gl = gl
        self.view = gl.GLViewWidget()
        self.view.setBackgroundColor(QColor(43, 43, 43))
        self.view.setCameraPosition(distance=GL_DISTANCE, elevation=8, azimuth=-90)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._items: list[object] = []

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
            v[:, 0] += (i - (n - 1) / 2) * 2.2
            tris = np.ascontiguousarray(np.asarray(faces, np.int32)[:, ::-1])  # the axis swap flips winding
            md = self._gl.MeshData(vertexes=v.astype(np.float32), faces=tris)
            item = self._gl.GLMeshItem(meshdata=md, smooth=True, shader="shaded", color=(*m.tint, 1.0))
            self.view.addItem(item)
            self._items.append(item)

    def grab_image(self) -> QImage:
        return self.view.grabFramebuffer()


class Preview3D(QWidget):
    """Toggles for the three meshes, a reset-view button, and the back end that draws them."""

    def __init__(self, parent: QWidget | None = None, *, force_software: bool = False) -> None:
        super().__init__(parent)
        ok, why = (False, "software rendering was asked for") if force_software else opengl_usable()
        self.backend_name = "opengl" if ok else "software"
        self.fallback_reason = why
        self.canvas: GLMeshView | SoftwareMeshView = GLMeshView() if ok else SoftwareMeshView()
        self.toggles: dict[str, QCheckBox] = {}
        bar = QHBoxLayout()
        for kind in KINDS:
            box = QCheckBox(LABELS[kind])
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
        stack = QStackedLayout()
        stack.addWidget(self.canvas)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addLayout(stack, 1)
        layout.addWidget(self.note)
        self._meshes = MeshSet(faces=np.zeros((0, 3), np.int64))

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
            self.canvas.set_view(25.0, 8.0)
        else:
            self.canvas.view.setCameraPosition(distance=GL_DISTANCE, elevation=8, azimuth=-90)
