"""Pure-PyTorch differentiable mesh renderer: cameras, rasterizer, shaders, motion flow.

Batched, device-agnostic (CPU and CUDA), no compiled extensions. pytorch3d is used for the
visibility pass only where it is importable (:mod:`core.render.backends`); results and
gradients come from this package's code either way.

Conventions
-----------
Screen space = the photo's pixel grid:

* x to the right, y downwards, in pixels. Pixel (row i, column j) covers
  ``[j, j + 1) x [i, i + 1)``; its centre, where everything is sampled, is ``(j + 0.5, i + 0.5)``.
  The image spans ``[0, W] x [0, H]``.
* That is exactly ``grid_sample(..., align_corners=False)``: a screen point (x, y) has the
  normalised coordinates ``(2 x / W - 1, 2 y / H - 1)``; -1 and +1 are the outer image edges.
  Landmarks given as fractions of the image size (MediaPipe) become screen points by multiplying
  with W and H.
* depth (the third coordinate): SMALLER = NEARER the camera. For face meshes straight from the
  landmark network it is the network's z, in the same pixel units as x and y. Orthographic
  cameras give depth in px; the perspective camera gives view-space z (> 0).
* View space (cameras): x right, y down, z forward (OpenCV), right-handed.
* Winding: a triangle whose vertices run counter-clockwise *on screen* faces the camera; its
  normal ``(v1 - v0) x (v2 - v0)`` then points towards the camera (negative z). MediaPipe's
  tessellation follows this (888 of 898 triangles face the camera for a frontal face).
* Images from shaders are channels-last ``(B, H, W, C)``, like pytorch3d.

Pieces (one concept per module, pytorch3d-like)
-----------------------------------------------
cameras      ScreenCamera (identity), OrthographicCamera, PerspectiveCamera
zbuffer      the discrete visibility pass (fixed-point edge functions, span enumeration,
             packed (depth, face) keys and scatter_reduce(amin))
rasterizer   rasterize() -> Fragments; differentiable barycentrics and depth; MeshRasterizer
normals      face and vertex normals
shaders      interpolate_attributes, normal_map, shade_grey, depth_map, coverage_mask + shader objects
renderer     MeshRenderer(rasterizer, shader)
fill         pull-push fill, chamfer distance, smooth falloff (used by flow)
flow         backward_flow() -> FlowField (grid, displacement, mask); the grid maths (identity_grid,
             grid_offset / offset_grid, resize_grid) and the one warp()
geometry_image  the geometry image E_e reads (paper §3.1): view normals + coverage mask
primitives   cube, uv_sphere, model_to_screen (tests, benchmarks, placeholders)
"""

from core.render.backends import RenderBackendUnavailableError, pytorch3d_available
from core.render.cameras import OrthographicCamera, PerspectiveCamera, ScreenCamera
from core.render.flow import (
    FlowField,
    FlowSettings,
    backward_flow,
    grid_offset,
    identity_grid,
    offset_grid,
    resize_grid,
    warp,
)
from core.render.geometry_image import GEOMETRY_CHANNELS, geometry_image
from core.render.normals import face_normals, vertex_normals
from core.render.rasterizer import Fragments, MeshRasterizer, RasterizedMesh, RasterSettings, rasterize
from core.render.renderer import MeshRenderer
from core.render.shaders import (
    DepthShader,
    GreyShader,
    LightSettings,
    MaskShader,
    NormalShader,
    coverage_mask,
    depth_map,
    interpolate_attributes,
    normal_map,
    shade_grey,
)

__all__ = [
    "GEOMETRY_CHANNELS",
    "DepthShader",
    "FlowField",
    "FlowSettings",
    "Fragments",
    "GreyShader",
    "LightSettings",
    "MaskShader",
    "MeshRasterizer",
    "MeshRenderer",
    "NormalShader",
    "OrthographicCamera",
    "PerspectiveCamera",
    "RasterSettings",
    "RasterizedMesh",
    "RenderBackendUnavailableError",
    "ScreenCamera",
    "backward_flow",
    "coverage_mask",
    "depth_map",
    "face_normals",
    "geometry_image",
    "grid_offset",
    "identity_grid",
    "interpolate_attributes",
    "normal_map",
    "offset_grid",
    "pytorch3d_available",
    "rasterize",
    "resize_grid",
    "shade_grey",
    "vertex_normals",
    "warp",
]
