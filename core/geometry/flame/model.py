"""FLAME as a differentiable ``nn.Module`` behind the project's face-model interface.

Two levels:

* :meth:`FlameModel.deform` is FLAME itself (Li et al. 2017): shape β, expression ψ and the
  articulated pose θ = (global, neck, jaw, eyes) in axis-angle → vertices in FLAME's frame
  (metres, y up, +z out of the face).
* :meth:`FlameModel.canonical_vertices` / ``vertices`` are the :class:`FaceModel` interface
  used by the rest of the app: ``identity`` = β, ``expression`` = [ψ, jaw axis-angle] (the
  paper's l_exp, §3.1: EMOCA's expression and jaw codes come from the reference), and ``pose``
  a similarity into photo pixels applied on top of FLAME at zero global / neck / eye rotation:
  ``x_img = scale · R · x_flame + t``. FLAME's frame is the interface's model frame (y up, +z
  out of the face), so a frontal face has ``R = FRONTAL = diag(1, -1, -1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from core.assets import AssetMissingError
from core.checks import assert_shape
from core.geometry.face_model import FRONTAL, FaceModel
from core.geometry.flame.assets import N_JOINTS, FlameAssets, FlameFormatError, LandmarkEmbedding
from core.geometry.flame.landmarks import (
    REGION_NAMES,
    barycentric_landmarks,
    contour_bin,
    region_masks,
    yaw_degrees,
)
from core.geometry.flame.lbs import axis_angle_to_matrix, blend_shapes, lbs

__all__ = ["FlameConfig", "FlameEmbeddingMissingError", "FlameModel", "FlameOutput", "FlamePose"]

JAW = 2  # joint index: 0 root, 1 neck, 2 jaw, 3 left eye, 4 right eye


class FlameEmbeddingMissingError(AssetMissingError):
    """Landmarks (or regions) were asked of a FLAME model imported without a landmark embedding."""


@dataclass(frozen=True)
class FlameConfig:
    """How much of FLAME to use. Counts are the leading components of each basis."""

    n_shape: int = 300  # |β|, identity components S (FLAME 2020/2023 have 300; DECA/EMOCA use 100)
    n_expression: int = 100  # |ψ|, expression components E (FLAME has 100; EMOCA uses 50)


class FlamePose(NamedTuple):
    """θ, FLAME's articulated pose, axis-angle in radians (float, batch B)."""

    global_rot: torch.Tensor  # (B, 3) root rotation about the root joint
    neck: torch.Tensor  # (B, 3)
    jaw: torch.Tensor  # (B, 3) mouth opening is mostly about +x
    eyes: torch.Tensor  # (B, 6) left eye then right eye

    @classmethod
    def zeros(cls, batch: int, *, dtype: torch.dtype = torch.float32,
              device: torch.device | str | None = None) -> FlamePose:
        z = lambda n: torch.zeros(batch, n, dtype=dtype, device=device)  # noqa: E731
        return cls(z(3), z(3), z(3), z(6))

    def full(self) -> torch.Tensor:
        """(B, 5, 3): per-joint axis-angle in FLAME's joint order."""
        return torch.cat([self.global_rot, self.neck, self.jaw, self.eyes], dim=1).reshape(-1, N_JOINTS, 3)


class FlameOutput(NamedTuple):
    vertices: torch.Tensor  # (B, V, 3) or (B, N, 3) for a vertex subset; FLAME frame, metres
    joints: torch.Tensor  # (B, 5, 3) posed joints, FLAME frame


class FlameModel(FaceModel):
    """FLAME with buffers on any device; batched and differentiable.

    Build with :func:`core.geometry.flame.importer.load_flame` (the user's imported model) or from
    :class:`FlameAssets` directly (tests use a synthetic one).
    """

    def __init__(self, *, assets: FlameAssets, embedding: LandmarkEmbedding | None = None,
                 config: FlameConfig = FlameConfig()) -> None:
        super().__init__()
        if not 0 <= config.n_shape <= assets.n_shape:
            raise ValueError(f"n_shape={config.n_shape}: this FLAME file has {assets.n_shape} shape "
                             f"components")
        if not 0 <= config.n_expression <= assets.n_expression:
            raise ValueError(f"n_expression={config.n_expression}: this FLAME file has "
                             f"{assets.n_expression} expression components")
        self.config = config
        self.embedding = embedding
        f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
        sd = assets.shapedirs
        dirs = np.concatenate([sd[:, :, :config.n_shape],
                               sd[:, :, assets.n_shape:assets.n_shape + config.n_expression]], axis=2)
        self.register_buffer("v_template", f32(assets.v_template))  # (V, 3) T̄
        self.register_buffer("faces", torch.as_tensor(assets.faces, dtype=torch.long))  # (F, 3)
        self.register_buffer("shapedirs", f32(dirs))  # (V, 3, n_shape + n_expression) [S | E]
        self.register_buffer("posedirs", f32(np.transpose(assets.posedirs, (2, 0, 1))))  # (36, V, 3) P
        self.register_buffer("weights", f32(assets.weights))  # (V, 5) W
        self.register_buffer("j_regressor", f32(assets.j_regressor))  # (5, V) J
        # J is linear in the shaped mesh, so J(β, ψ) = J·T̄ + (J·[S|E]) [β; ψ]: regress once here.
        jr = assets.j_regressor.astype(np.float64)
        self.register_buffer("j_template", f32(jr @ assets.v_template))  # (5, 3)
        self.register_buffer("j_dirs", f32(np.einsum("jv,vck->jck", jr, dirs)))  # (5, 3, K)
        self.register_buffer("parents", torch.as_tensor(assets.parents, dtype=torch.long))
        self._parents = tuple(int(p) for p in assets.parents)
        self._landmark_sets: dict[str, str] = {}
        if embedding is not None:
            for name, s in embedding.sets.items():
                self._add_landmark_set(name, s.faces, s.bary)
            if embedding.contour_faces is not None:
                self.register_buffer("contour_faces", torch.as_tensor(embedding.contour_faces,
                                                                      dtype=torch.long), persistent=False)
                self.register_buffer("contour_bary", f32(embedding.contour_bary), persistent=False)
            try:
                s68 = embedding.set68()
            except FlameFormatError:  # a 68 set is optional (e.g. a MediaPipe-only embedding)
                s68 = None
            if s68 is not None:
                self._add_landmark_set("68", s68.faces, s68.bary)
        self._regions: dict[str, torch.Tensor] = {}

    def _add_landmark_set(self, name: str, faces: np.ndarray, bary: np.ndarray) -> None:
        key = f"lmk_{name}"
        self.register_buffer(f"{key}_faces", torch.as_tensor(faces, dtype=torch.long), persistent=False)
        self.register_buffer(f"{key}_bary", torch.as_tensor(np.asarray(bary, np.float32)), persistent=False)
        self._landmark_sets[name] = key

    # -- sizes ------------------------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def identity_dim(self) -> int:
        """Length of ``identity`` (β)."""
        return self.config.n_shape

    @property
    def expression_dim(self) -> int:
        """Length of ``expression``: ψ followed by the jaw axis-angle (3)."""
        return self.config.n_expression + 3

    # -- FLAME ------------------------------------------------------------------------------
    def deform(self, *, shape: torch.Tensor, expression: torch.Tensor, pose: FlamePose,
               vertex_ids: torch.Tensor | None = None) -> FlameOutput:
        """FLAME: M(β, θ, ψ).

        shape: (B, n_shape) β, in units of standard deviations (≈ [-3, 3]);
        expression: (B, n_expression) ψ, same units; pose: :class:`FlamePose`, (B, ·) radians;
        vertex_ids: optional (N,) long: compute only these vertices (joints still exact).
        Returns vertices (B, V or N, 3) and joints (B, 5, 3) in FLAME's frame (metres).
        """
        B = assert_shape(shape, ("B", self.config.n_shape), "shape")["B"]
        assert_shape(expression, (B, self.config.n_expression), "expression")
        rot = axis_angle_to_matrix(pose.full())
        assert_shape(rot, (B, N_JOINTS, 3, 3), "pose")
        coeffs = torch.cat([shape, expression], dim=1).to(self.v_template.dtype)
        template, dirs, posedirs, weights = self.v_template, self.shapedirs, self.posedirs, self.weights
        if vertex_ids is not None:
            template, dirs = template[vertex_ids], dirs[vertex_ids]
            posedirs, weights = posedirs[:, vertex_ids], weights[vertex_ids]
        if coeffs.shape[1]:
            v_shaped = template + blend_shapes(coeffs, dirs)
            joints = self.j_template + torch.einsum("bk,jck->bjc", coeffs, self.j_dirs)
        else:
            v_shaped = template.expand(B, -1, -1)
            joints = self.j_template.expand(B, -1, -1)
        out = lbs(v_shaped=v_shaped, joints=joints, rotations=rot.to(v_shaped.dtype), posedirs=posedirs,
                  weights=weights, parents=self._parents)
        return FlameOutput(vertices=out.vertices, joints=out.joints)

    def split_expression(self, expression: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_expression + 3) → ψ (B, n_expression), jaw axis-angle (B, 3)."""
        assert_shape(expression, ("B", self.expression_dim), "expression")
        return expression[:, :-3], expression[:, -3:]

    # -- FaceModel interface ----------------------------------------------------------------
    @property
    def expression_names(self) -> tuple[str, ...]:
        return (*(f"psi{i:03d}" for i in range(self.config.n_expression)), "jaw_x", "jaw_y", "jaw_z")

    def canonical_vertices(self, identity: torch.Tensor, expression: torch.Tensor,
                           vertex_ids: torch.Tensor | None = None) -> torch.Tensor:
        """FLAME at zero global / neck / eye rotation, in its own frame (metres, y up, +z front).

        identity: (B, n_shape) β; expression: (B, n_expression + 3) [ψ, jaw axis-angle];
        vertex_ids: optional (N,) long subset. Returns (B, V or N, 3). ``vertices(identity,
        expression, pose)`` (inherited) maps this into photo pixels with the similarity.
        """
        psi, jaw = self.split_expression(expression)
        B = psi.shape[0]
        z = FlamePose.zeros(B, dtype=jaw.dtype, device=jaw.device)
        return self.deform(shape=identity, expression=psi, pose=z._replace(jaw=jaw),
                           vertex_ids=vertex_ids).vertices

    @property
    def landmark_indices(self) -> torch.Tensor:
        """(68,) long: for each iBUG-68 landmark, the vertex with the largest barycentric weight.

        An approximation for code that wants vertex indices; :meth:`landmarks` is exact.
        """
        faces, bary = self._landmark_buffers("68")
        return self.faces[faces, bary.argmax(dim=1)]

    def landmarks(self, vertices: torch.Tensor, which: str = "68") -> torch.Tensor:
        """Landmarks (B, L, 3) on ``vertices`` (B, V, 3), any frame (barycentric interpolation).

        which: ``'68'`` (iBUG order, fixed contour), ``'static51'``, ``'full68'``, ``'mediapipe'``
        — whichever the imported embedding provides (:attr:`landmark_sets`).
        """
        faces, bary = self._landmark_buffers(which)
        return barycentric_landmarks(vertices, self.faces, faces, bary)

    def landmarks_dynamic68(self, vertices: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        """68 landmarks with DECA's yaw-dependent jaw contour (what a 2D detector finds).

        vertices: (B, V, 3); rotation: (B, 3, 3) ``Pose.rotation`` (FLAME → photo frame); the
        yaw is FLAME's (of ``FRONTAL @ rotation``), as in DECA.
        Needs an embedding with the dynamic contour (DECA / TF_FLAME).
        """
        if not hasattr(self, "contour_faces"):
            raise self._missing("the dynamic jaw contour")
        bins = contour_bin(yaw_degrees(rotation.new_tensor(FRONTAL) @ rotation))  # FLAME-frame yaw
        contour = barycentric_landmarks(vertices, self.faces, self.contour_faces[bins],
                                        self.contour_bary[bins])
        return torch.cat([contour, self.landmarks(vertices, "static51")], dim=1)

    @property
    def landmark_sets(self) -> tuple[str, ...]:
        return tuple(self._landmark_sets)

    def _landmark_buffers(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        if which not in self._landmark_sets:
            raise self._missing(f"the landmark set '{which}'")
        key = self._landmark_sets[which]
        return getattr(self, f"{key}_faces"), getattr(self, f"{key}_bary")

    def _missing(self, what: str) -> FlameEmbeddingMissingError:
        have = ", ".join(self._landmark_sets) or "none"
        return FlameEmbeddingMissingError(
            f"This FLAME model has no {what} (landmark sets imported: {have}). Import a landmark "
            f"embedding with the model: `gafet assets import-flame generic_model.pkl --embedding "
            f"landmark_embedding.npy` (DECA's file).")

    # -- regions ----------------------------------------------------------------------------
    @property
    def region_names(self) -> tuple[str, ...]:
        return REGION_NAMES  # the interface's names plus 'rest'

    def region_weights(self, name: str) -> torch.Tensor:
        """Soft mask (V,) float in [0, 1] of 'brows', 'eyes', 'nose', 'mouth', 'jaw', 'cheeks' or
        'rest'; the masks sum to 1 at every vertex.

        'jaw' starts from FLAME's own skinning weight of the jaw joint, the others from a
        Gaussian around the template's 68 landmarks (needs the landmark embedding; without one
        only 'jaw' and 'rest' are non-zero).
        """
        if name not in REGION_NAMES:
            raise KeyError(f"Unknown face region {name!r}; known regions: {', '.join(REGION_NAMES)}.")
        if not self._regions:
            lmk = (self.landmarks(self.v_template[None], "68")[0].detach().cpu().numpy()
                   if "68" in self._landmark_sets else None)
            masks = region_masks(template=self.v_template.detach().cpu().numpy(), lmk68=lmk,
                                 jaw_skinning=self.weights[:, JAW].detach().cpu().numpy())
            self._regions = {k: torch.from_numpy(v) for k, v in masks.items()}
        return self._regions[name].to(self.v_template.device)
