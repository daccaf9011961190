"""Neutralisers: X -> X_n, the de-expressed face of a pseudo-pair (X_n, X) (paper §3.4-3.5).

A neutraliser takes a prepared face (aligned crop, mesh, fitted parameters) and returns the same
person with a neutral expression, in the same crop, with its mesh and parameters. ``gafet
prepare`` runs one in its workers and stores X_n beside X in the cache.

* ``warp`` (default, until a trained De-expression network exists): the built-in warp editor's
  rendering of the ``neutral`` expression preset at intensity 1, through the same
  :class:`core.editing.pipeline.EditPipeline` the Studio uses (presets apply on top of the
  person's single-photo neutral, :meth:`core.editing.geometry_link.GeometryLink.preset_target`,
  with the calibrated region gains and mouth aperture). X_n's parameters are X's identity and pose
  with zero AUs (``combine(X, neutral)``), an approximation of that rendering (with the estimated
  neutral AUs instead the model's mesh was measured no closer: 3.2 px at 64²); its mesh is the mesh
  the warp actually moved
  X to (the pipeline's fold-free target), which can differ from the model's vertices of those
  parameters by a few px at the lips.
  Caveats (notes/training.md §4, A1): an open mouth is closed by compressing it, and expression
  texture (folds, crow's feet) stays in X_n.
* ``none``: no de-expression (the paper's "w/o De-exp" ablation): X_n = X. The cache then stores
  no X_n arrays and the dataset hands out X as the source.

A new neutraliser (a U²-Net De-expression model) implements :class:`Neutraliser` and registers in
:data:`NEUTRALISERS`; :class:`NeutralFace.params` may be None, and the caller then fits the mesh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np
import torch

from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedSource
from core.errors import GafetError
from core.geometry.face_model import FaceParams
from core.geometry.presets import builtin_preset


class NeutralFace(NamedTuple):
    """X_n: crop (R, R, 3) uint8; landmarks (468, 3) float32 crop px (pixel centres at integers);
    params: its FaceParams (B = 1, pose into crop px), or None to have the caller fit them."""

    crop: np.ndarray
    landmarks: np.ndarray
    params: FaceParams | None


class Neutraliser(Protocol):
    """Makes X_n from a prepared face (module docstring). ``name`` is stored in the cache."""

    name: str

    def neutralise(self, source: PreparedSource) -> NeutralFace: ...


class WarpNeutraliser:
    """The warp editor's ``neutral`` preset at intensity 1 (module docstring)."""

    name = "warp"

    def __init__(self, pipeline: EditPipeline) -> None:
        self.pipeline = pipeline
        self.reference = pipeline.prepare_preset(builtin_preset("neutral"))
        self.params = EditParams(alpha=1.0)

    def neutralise(self, source: PreparedSource) -> NeutralFace:
        result = self.pipeline.render(source, self.reference, self.params, full_resolution=False)
        zeros = torch.zeros_like(source.params.expression)
        return NeutralFace(crop=result.crop, landmarks=np.asarray(result.target_vertices, np.float32),
                           params=source.params.replace(expression=zeros))


class IdentityNeutraliser:
    """No de-expression: X_n = X (the "w/o De-exp" ablation)."""

    name = "none"

    def neutralise(self, source: PreparedSource) -> NeutralFace:
        return NeutralFace(crop=source.aligned.crop, landmarks=np.asarray(source.vertices, np.float32),
                           params=source.params)


NEUTRALISERS: dict[str, Callable[[EditPipeline], Neutraliser]] = {
    "warp": WarpNeutraliser,
    "none": lambda pipeline: IdentityNeutraliser(),
}


class UnknownNeutraliserError(GafetError):
    """A neutraliser name that is not registered."""


def build_neutraliser(name: str, pipeline: EditPipeline) -> Neutraliser:
    """The registered neutraliser ``name`` (``warp`` or ``none``) working in ``pipeline``'s crops."""
    try:
        return NEUTRALISERS[name](pipeline)
    except KeyError:
        known = ", ".join(NEUTRALISERS)
        raise UnknownNeutraliserError(f"Unknown neutraliser '{name}'; use one of {known}.") from None
