"""The face-model interface shared by every geometry backend (DESIGN.md §4).

A face model maps parameters to a mesh in photo pixels::

    vertices(identity, expression, pose) = pose.scale · pose.rotation · M(identity, expression)
                                           + pose.translation                          (B, V, 3)

``M`` (:meth:`FaceModel.canonical_vertices`) is the model's own frame; for every backend that
frame is **y up, +z out of the face (towards a viewer in front of it)**. The photo frame is
**x right, y down, z away from the camera** (MediaPipe's convention: smaller z = nearer), in
pixels. ``pose.rotation`` therefore *includes* the axis change: a face looking straight at the
camera has ``rotation = FRONTAL = diag(1, -1, -1)`` (a proper rotation: 180° about x). The head
rotation proper, in the photo frame, is ``rotation @ FRONTAL`` (:func:`head_rotation`).

Backends:

* :class:`core.geometry.au.model.AUFaceModel` — the built-in model: MediaPipe topology (468
  vertices), expression = 20 FACS action-unit intensities in [0, 1], identity = a per-vertex
  (468, 3) deformation.
* :class:`core.geometry.flame.model.FlameModel` — FLAME (user-imported): identity = β shape
  coefficients, expression = [ψ, jaw axis-angle].

Parameters travel as :class:`FaceParams` (a frozen record of batched tensors). The "decoupling"
of paper §3.1 is simply ``FaceParams(source.identity, reference.expression, source.pose)``
(:mod:`core.geometry.combine`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from core.checks import assert_shape

__all__ = ["FRONTAL", "REGION_NAMES", "FaceModel", "FaceParams", "Pose", "head_rotation"]

# Model frame (y up, +z front) → photo frame (y down, z away): the rotation of a frontal face.
FRONTAL = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))

# Named soft vertex regions every backend provides (region_weights(name) -> (V,) in [0, 1]).
REGION_NAMES = ("brows", "eyes", "nose", "mouth", "jaw", "cheeks")


def head_rotation(rotation: torch.Tensor) -> torch.Tensor:
    """The head's rotation in the photo frame (identity for a frontal face).

    rotation: (B, 3, 3) ``Pose.rotation`` (model frame → photo frame). Returns (B, 3, 3)
    ``rotation @ FRONTAL``. Euler angles of it: :func:`core.geometry.rotations.euler_from_matrix`.
    """
    assert_shape(rotation, ("B", 3, 3), "rotation")
    return rotation @ rotation.new_tensor(FRONTAL)


# ---------------------------------------------------------------------------------------------
# Parameter records


@dataclass(frozen=True)
class Pose:
    """A similarity transform from the model frame into photo pixels, batched.

    scale: (B,) float > 0 — photo pixels per model unit;
    rotation: (B, 3, 3) float, a proper rotation that includes the axis change (frontal =
    :data:`FRONTAL`);
    translation: (B, 3) float, photo pixels (x right, y down, z away from the camera).
    """

    scale: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor

    def __post_init__(self) -> None:
        b = assert_shape(self.scale, ("B",), "Pose.scale")["B"]
        assert_shape(self.rotation, (b, 3, 3), "Pose.rotation")
        assert_shape(self.translation, (b, 3), "Pose.translation")

    @classmethod
    def frontal(cls, batch: int, *, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> Pose:
        """Unit scale, frontal rotation, zero translation."""
        rot = torch.tensor(FRONTAL, dtype=dtype, device=device).expand(batch, 3, 3).clone()
        return cls(scale=torch.ones(batch, dtype=dtype, device=device), rotation=rot,
                   translation=torch.zeros(batch, 3, dtype=dtype, device=device))

    @property
    def batch_size(self) -> int:
        return int(self.scale.shape[0])

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """points (B, N, 3) in the model frame → (B, N, 3) photo pixels: ``s · R · p + t``."""
        assert_shape(points, (self.batch_size, None, 3), "points")
        return (self.scale[:, None, None] * (points @ self.rotation.transpose(1, 2))
                + self.translation[:, None, :])

    def index(self, i: int | slice | Sequence[int] | torch.Tensor) -> Pose:
        """Select batch entries (an int keeps the batch dimension: B = 1)."""
        i = [i] if isinstance(i, int) else i
        return Pose(self.scale[i], self.rotation[i], self.translation[i])

    @staticmethod
    def cat(poses: Sequence[Pose]) -> Pose:
        """Concatenate along the batch dimension."""
        return Pose(torch.cat([p.scale for p in poses]), torch.cat([p.rotation for p in poses]),
                    torch.cat([p.translation for p in poses]))

    def detach(self) -> Pose:
        return Pose(self.scale.detach(), self.rotation.detach(), self.translation.detach())

    def to(self, *args: torch.device | torch.dtype | str,
           **kwargs: torch.device | torch.dtype | str | bool) -> Pose:
        """``Tensor.to`` on every field (device and/or dtype)."""
        return Pose(self.scale.to(*args, **kwargs), self.rotation.to(*args, **kwargs),
                    self.translation.to(*args, **kwargs))


@dataclass(frozen=True)
class FaceParams:
    """Face-model parameters for a batch of B faces.

    identity: (B, *model.identity_shape) float — the person (AU model: (B, 468, 3) per-vertex
    deformation in model units; FLAME: (B, n_shape) β);
    expression: (B, model.expression_dim) float (AU model: 20 AU intensities in [0, 1]);
    pose: :class:`Pose` into photo pixels.
    """

    identity: torch.Tensor
    expression: torch.Tensor
    pose: Pose

    def __post_init__(self) -> None:
        b = self.pose.batch_size
        if self.identity.ndim < 1 or self.identity.shape[0] != b:
            raise ValueError(f"FaceParams.identity: batch {tuple(self.identity.shape)[:1]} != pose batch {b}")
        assert_shape(self.expression, (b, None), "FaceParams.expression")

    @property
    def batch_size(self) -> int:
        return self.pose.batch_size

    def index(self, i: int | slice | Sequence[int] | torch.Tensor) -> FaceParams:
        """Select batch entries (an int keeps the batch dimension: B = 1)."""
        j = [i] if isinstance(i, int) else i
        return FaceParams(self.identity[j], self.expression[j], self.pose.index(i))

    @staticmethod
    def cat(params: Sequence[FaceParams]) -> FaceParams:
        """Concatenate along the batch dimension."""
        return FaceParams(torch.cat([p.identity for p in params]),
                          torch.cat([p.expression for p in params]),
                          Pose.cat([p.pose for p in params]))

    def detach(self) -> FaceParams:
        return FaceParams(self.identity.detach(), self.expression.detach(), self.pose.detach())

    def to(self, *args: torch.device | torch.dtype | str,
           **kwargs: torch.device | torch.dtype | str | bool) -> FaceParams:
        """``Tensor.to`` on every field (device and/or dtype)."""
        return FaceParams(self.identity.to(*args, **kwargs), self.expression.to(*args, **kwargs),
                          self.pose.to(*args, **kwargs))

    def replace(self, *, identity: torch.Tensor | None = None, expression: torch.Tensor | None = None,
                pose: Pose | None = None) -> FaceParams:
        """A copy with some fields replaced."""
        return FaceParams(self.identity if identity is None else identity,
                          self.expression if expression is None else expression,
                          self.pose if pose is None else pose)


# ---------------------------------------------------------------------------------------------
# The model interface


class FaceModel(nn.Module, abc.ABC):
    """Parameters → mesh. Batched, differentiable, on any device (buffers move with ``.to``).

    A backend provides:

    * buffer ``faces``: (F, 3) long triangle indices (counter-clockwise seen from the front in
      the model frame);
    * :meth:`canonical_vertices` (model frame), :attr:`expression_dim`, :attr:`identity_shape`,
      :attr:`num_vertices`, :attr:`landmark_indices`;
    * :attr:`region_names` and :meth:`region_weights` (soft masks for at least
      :data:`REGION_NAMES`).

    Optional overrides: :meth:`landmarks` (e.g. barycentric landmarks), :attr:`expression_names`,
    :attr:`mouth_interior_faces` / :attr:`eye_interior_faces` (triangles spanning the openings;
    default: none).
    """

    faces: torch.Tensor

    # -- sizes ------------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def num_vertices(self) -> int:
        """V."""

    @property
    @abc.abstractmethod
    def expression_dim(self) -> int:
        """E, the length of ``expression``."""

    @property
    def identity_shape(self) -> tuple[int, ...]:
        """Shape of one face's ``identity`` (without the batch dimension)."""
        return (int(self.identity_dim),)  # backends with vector identities define identity_dim

    @property
    def expression_names(self) -> tuple[str, ...]:
        """A name per expression component (AU names for the AU model)."""
        return tuple(f"exp{i:03d}" for i in range(self.expression_dim))

    # -- geometry ---------------------------------------------------------------------------
    @abc.abstractmethod
    def canonical_vertices(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """identity (B, *identity_shape), expression (B, E) → (B, V, 3) in the model frame."""

    def vertices(self, identity: torch.Tensor, expression: torch.Tensor, pose: Pose) -> torch.Tensor:
        """(B, V, 3) float in photo pixels (x right, y down, z away from the camera)."""
        return self.to_image(self.canonical_vertices(identity, expression), pose)

    def vertices_of(self, params: FaceParams) -> torch.Tensor:
        """:meth:`vertices` of a :class:`FaceParams` record: (B, V, 3) photo pixels."""
        return self.vertices(params.identity, params.expression, params.pose)

    @staticmethod
    def to_image(points: torch.Tensor, pose: Pose) -> torch.Tensor:
        """Apply the similarity: points (B, N, 3) model frame → ``s · R · p + t`` (B, N, 3)."""
        return pose.apply(points)

    # -- landmarks --------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def landmark_indices(self) -> torch.Tensor:
        """(L,) long vertex indices of the model's landmarks."""

    def landmarks(self, vertices: torch.Tensor) -> torch.Tensor:
        """Landmarks (B, L, 3) on ``vertices`` (B, V, 3), any frame."""
        assert_shape(vertices, ("B", self.num_vertices, 3), "vertices")
        return vertices[:, self.landmark_indices.to(vertices.device)]

    # -- regions and openings ---------------------------------------------------------------
    @property
    def region_names(self) -> tuple[str, ...]:
        return REGION_NAMES

    @abc.abstractmethod
    def region_weights(self, name: str) -> torch.Tensor:
        """Soft mask (V,) float in [0, 1] of a named region (``region_names``)."""

    def region_masks(self, names: Sequence[str] | None = None) -> torch.Tensor:
        """(R, V) float: :meth:`region_weights` of ``names`` (default: all ``region_names``)."""
        return torch.stack([self.region_weights(n) for n in (names or self.region_names)])

    @property
    def mouth_interior_faces(self) -> torch.Tensor:
        """(F,) bool: triangles spanning the mouth opening (between the lips)."""
        return torch.zeros(self.faces.shape[0], dtype=torch.bool, device=self.faces.device)

    @property
    def eye_interior_faces(self) -> torch.Tensor:
        """(F,) bool: triangles spanning the eye openings (between the eyelids)."""
        return torch.zeros(self.faces.shape[0], dtype=torch.bool, device=self.faces.device)

    # -- parameters -------------------------------------------------------------------------
    def default_params(self, batch: int = 1, *, dtype: torch.dtype = torch.float32,
                       device: torch.device | str | None = None) -> FaceParams:
        """Mean identity, neutral expression, frontal unit pose."""
        return FaceParams(identity=torch.zeros(batch, *self.identity_shape, dtype=dtype, device=device),
                          expression=torch.zeros(batch, self.expression_dim, dtype=dtype, device=device),
                          pose=Pose.frontal(batch, dtype=dtype, device=device))
