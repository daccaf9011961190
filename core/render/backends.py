"""Choice of the face-visibility backend behind :func:`core.render.rasterizer.rasterize`.

* ``"torch"``: the project's own pure-PyTorch z-buffer (:mod:`core.render.zbuffer`). Always there.
* ``"pytorch3d"``: pytorch3d's ``rasterize_meshes``, used only for the discrete choice of face per
  pixel; barycentrics and depth are recomputed by the project's code either way, so gradients and
  conventions do not change. pytorch3d has no installable distribution on the registries this
  project targets (``notes/dependencies.md`` section 2), so this path is optional and untested.
* ``"auto"``: pytorch3d where it is importable and the vertices are on CUDA, else torch.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Literal

import torch

from core.errors import GafetError

__all__ = ["Backend", "RenderBackendUnavailableError", "pytorch3d_available", "resolve_backend"]

Backend = Literal["auto", "torch", "pytorch3d"]
_BACKENDS = ("auto", "torch", "pytorch3d")


class RenderBackendUnavailableError(GafetError):
    """A rasterizer backend was asked for by name but cannot be imported here."""


@functools.cache
def pytorch3d_available() -> bool:
    """True when ``pytorch3d.renderer`` can be found (checked once, without importing it)."""
    try:
        return importlib.util.find_spec("pytorch3d") is not None and (
            importlib.util.find_spec("pytorch3d.renderer") is not None
        )
    except (ImportError, ValueError):
        return False


def resolve_backend(name: str, device: torch.device) -> Literal["torch", "pytorch3d"]:
    """Turn a requested backend name into the one that will run on ``device``.

    Raises ValueError for an unknown name and RenderBackendUnavailableError when ``"pytorch3d"``
    is asked for explicitly but is not importable.
    """
    if name not in _BACKENDS:
        raise ValueError(f"unknown rasterizer backend {name!r}; expected one of {_BACKENDS}")
    if name == "torch":
        return "torch"
    available = pytorch3d_available()
    if name == "pytorch3d":
        if not available:
            raise RenderBackendUnavailableError(
                "The pytorch3d rasterizer backend was requested, but pytorch3d is not installed. "
                "Use backend='torch' (the built-in rasterizer) or 'auto'."
            )
        return "pytorch3d"
    return "pytorch3d" if available and device.type == "cuda" else "torch"


def visible_faces_pytorch3d(
    verts_screen: torch.Tensor,
    faces: torch.Tensor,
    image_size: tuple[int, int],
    *,
    cull_backfaces: bool,
    perspective_correct: bool,
) -> torch.Tensor:
    """Same contract as :func:`core.render.zbuffer.visible_faces`, through pytorch3d.

    Converts screen space (x right, y down, px, centres at +0.5) to pytorch3d's NDC (+x left,
    +y up, the shorter image side spanning [-1, 1], align_corners=False), so pixel centres
    coincide. Back faces are removed here (pytorch3d's own culling assumes its handedness).
    For orthographic input, depth is shifted to be positive, since pytorch3d skips faces
    behind z = 0; the shift keeps the depth order.
    """
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from pytorch3d.structures import Meshes

    H, W = image_size
    B = verts_screen.shape[0]
    s = float(min(H, W))
    with torch.no_grad():
        v = verts_screen.detach().float()
        x, y, z = v.unbind(-1)
        if not perspective_correct:
            z = z - z.amin(dim=1, keepdim=True) + 1.0
        ndc = torch.stack((-(2.0 * x - W) / s, -(2.0 * y - H) / s, z), dim=-1)
        kept: list[torch.Tensor] = []
        for b in range(B):
            if cull_backfaces:
                t = v[b, faces]
                area = (t[:, 2, 0] - t[:, 1, 0]) * (t[:, 0, 1] - t[:, 1, 1]) - (
                    t[:, 2, 1] - t[:, 1, 1]
                ) * (t[:, 0, 0] - t[:, 1, 0])
                kept.append(torch.nonzero(area < 0).squeeze(1))
            else:
                kept.append(torch.arange(faces.shape[0], device=faces.device))
        meshes = Meshes(verts=list(ndc), faces=[faces[k] for k in kept])
        p2f, _, _, _ = rasterize_meshes(
            meshes, image_size=(H, W), blur_radius=0.0, faces_per_pixel=1,
            perspective_correct=perspective_correct, cull_backfaces=False,
        )
        p2f = p2f[..., 0]
        out = torch.full_like(p2f, -1)
        offset = 0
        for b in range(B):
            local = p2f[b] - offset
            hit = p2f[b] >= 0
            out[b][hit] = kept[b][local[hit]]
            offset += kept[b].numel()
        return out
