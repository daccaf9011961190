"""FLAME model data as plain arrays: validated from the user's pickle, stored as safetensors.

:class:`FlameAssets` holds the arrays of one FLAME model (FLAME 2020 or 2023: 5,023 vertices,
9,976 triangles, 5 joints, 400 shape+expression components, 36 pose correctives).
:class:`LandmarkEmbedding` holds landmark positions on the mesh as (triangle, barycentric)
pairs, read from the common embedding files (DECA's ``landmark_embedding.npy``, TF_FLAME's
``flame_static_embedding.pkl`` / ``flame_dynamic_embedding.npy``, EMOCA's
``mediapipe_landmark_embedding.npz``). Both convert to and from safetensors, which holds
tensors and a string map only (no pickle).

Symbols (FLAME, Li et al. 2017): T̄ = ``v_template``, S = shape basis (β), E = expression
basis (ψ), P = pose correctives, J = joint regressor, W = blend weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import GafetError
from core.io.atomic import atomic_path

N_VERTICES = 5023  # FLAME 2020 / 2023 topology
N_FACES = 9976
N_JOINTS = 5  # global (root), neck, jaw, left eye, right eye
N_POSE_BASIS = (N_JOINTS - 1) * 9  # rotation matrices minus identity of the non-root joints
N_SHAPE_FLAME = 300  # identity components stored first in shapedirs; expression follows
REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
FORMAT = "gafet-flame/1"
EMBEDDING_FORMAT = "gafet-flame-landmarks/1"
N_CONTOUR_BINS = 79  # DECA's dynamic contour: yaw bins 0..39 deg and -1..-39 deg (+ beyond)
N_CONTOUR = 17


class FlameFormatError(GafetError):
    """A FLAME model or landmark file lacks a key or has an array of the wrong shape."""


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise FlameFormatError(msg)


@dataclass(frozen=True, eq=False)
class FlameAssets:
    """The arrays of one FLAME model, float32 / int64, in FLAME's frame (metres, y up, +z front).

    v_template:  (V, 3) float32   T̄, the mean head
    faces:       (F, 3) int64     triangles, indices into the vertices
    shapedirs:   (V, 3, K) float32 S then E: components [0, n_shape) are identity (β),
                                  [n_shape, K) are expression (ψ); scaled by their std. dev.
    posedirs:    (V, 3, 36) float32 P, pose-corrective offsets per entry of (R_j - I), j = 1..4
    j_regressor: (5, V) float32   J, joint locations from the shaped mesh
    weights:     (V, 5) float32   W, linear-blend-skinning weights (rows sum to 1)
    parents:     (5,) int64       kinematic tree; parents[0] = -1
    n_shape:     number of identity components in ``shapedirs`` (300 in FLAME 2020 / 2023)
    metadata:    provenance strings (source file name, SHA-256, format)
    """

    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    n_shape: int = N_SHAPE_FLAME
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def n_expression(self) -> int:
        return self.shapedirs.shape[2] - self.n_shape

    def __post_init__(self) -> None:
        self.validate(source="the FLAME model")

    def validate(self, *, source: str) -> None:
        """Raise :class:`FlameFormatError` naming the array whose shape or values are wrong."""
        V, F, J = N_VERTICES, N_FACES, N_JOINTS
        want = {"v_template": (V, 3), "faces": (F, 3), "posedirs": (V, 3, N_POSE_BASIS),
                "j_regressor": (J, V), "weights": (V, J), "parents": (J,)}
        for name, shape in want.items():
            got = getattr(self, name).shape
            _check(got == shape, f"In {source}, '{name}' has shape {got}; a FLAME model needs {shape}.")
        sd = self.shapedirs.shape
        _check(len(sd) == 3 and sd[:2] == (V, 3) and sd[2] > self.n_shape,
               f"In {source}, 'shapedirs' has shape {sd}; a FLAME model needs ({V}, 3, K) with K > "
               f"{self.n_shape} (identity components first, then expression).")
        for name in ("v_template", "shapedirs", "posedirs", "j_regressor", "weights"):
            _check(bool(np.isfinite(getattr(self, name)).all()),
                   f"In {source}, '{name}' has NaN or inf values.")
        _check(int(self.faces.min()) >= 0 and int(self.faces.max()) < V,
               f"In {source}, the triangles ('f') index vertices outside 0..{V - 1}.")
        p = self.parents
        _check(p[0] == -1 and all(0 <= p[i] < i for i in range(1, J)),
               f"In {source}, the kinematic tree ('kintree_table') is not a FLAME tree: parents "
               f"{p.tolist()}.")

    # -- from the user's pickle -------------------------------------------------------------
    @classmethod
    def from_flame_dict(cls, data: object, *, source: str, n_shape: int = N_SHAPE_FLAME) -> FlameAssets:
        """Build from the dict a FLAME pickle holds (after :func:`flame_pickle.load_restricted`)."""
        _check(isinstance(data, Mapping), f"{source} holds a {type(data).__name__}, not a FLAME model dict.")
        missing = [k for k in REQUIRED_KEYS if k not in data]
        _check(not missing, f"{source} is not a FLAME model: it has no key '{missing[0] if missing else ''}'"
                            f" (FLAME model files have {', '.join(REQUIRED_KEYS)}; this one has "
                            f"{', '.join(sorted(map(str, data)))}).")
        arrays = {}
        for key in REQUIRED_KEYS:
            val = data[key]
            _check(isinstance(val, np.ndarray) and not val.dtype.hasobject and val.dtype.kind in "biuf",
                   f"In {source}, '{key}' is a {type(val).__name__}, not a numeric array.")
            arrays[key] = val
        kt = arrays["kintree_table"]
        _check(kt.ndim == 2 and kt.shape[0] == 2, f"In {source}, 'kintree_table' has shape {kt.shape}; "
                                                  f"a FLAME model needs (2, {N_JOINTS}).")
        _check_pickle_shapes(arrays, source)
        parents = kt[0].astype(np.int64)
        parents[0] = -1  # stored as 2**32 - 1
        return cls(
            v_template=np.asarray(arrays["v_template"], np.float32),
            faces=np.asarray(arrays["f"], np.int64),
            shapedirs=np.asarray(arrays["shapedirs"], np.float32),
            posedirs=np.asarray(arrays["posedirs"], np.float32),
            j_regressor=np.asarray(arrays["J_regressor"], np.float32),
            weights=np.asarray(arrays["weights"], np.float32),
            parents=parents,
            n_shape=n_shape,
            metadata={"format": FORMAT},
        )

    # -- safetensors ------------------------------------------------------------------------
    def save(self, path: Path, *, metadata: Mapping[str, str] | None = None) -> None:
        """Write a safetensors file atomically (temporary file + rename)."""
        tensors = {"v_template": self.v_template, "faces": self.faces, "shapedirs": self.shapedirs,
                   "posedirs": self.posedirs, "j_regressor": self.j_regressor, "weights": self.weights,
                   "parents": self.parents}
        meta = {**self.metadata, **(metadata or {}), "format": FORMAT, "n_shape": str(self.n_shape)}
        save_safetensors_atomic(path, tensors, meta)

    @classmethod
    def load(cls, path: Path) -> FlameAssets:
        """Read a file written by :meth:`save`."""
        tensors, meta = load_safetensors(path, expect_format=FORMAT)
        missing = [k for k in ("v_template", "faces", "shapedirs", "posedirs", "j_regressor", "weights",
                               "parents") if k not in tensors]
        _check(not missing,
               f"{path.name} lacks '{missing[0] if missing else ''}'; import the FLAME model again.")
        return cls(**{k: tensors[k] for k in ("v_template", "faces", "shapedirs", "posedirs", "j_regressor",
                                              "weights", "parents")},
                   n_shape=int(meta.get("n_shape", N_SHAPE_FLAME)), metadata=dict(meta))


def _check_pickle_shapes(arrays: Mapping[str, np.ndarray], source: str) -> None:
    """Shape checks phrased with the pickle's own key names (before renaming)."""
    V, J = N_VERTICES, N_JOINTS
    want = {"v_template": (V, 3), "f": (N_FACES, 3), "posedirs": (V, 3, N_POSE_BASIS),
            "J_regressor": (J, V), "weights": (V, J), "kintree_table": (2, J)}
    for key, shape in want.items():
        got = arrays[key].shape
        _check(got == shape, f"In {source}, '{key}' has shape {got}; a FLAME model needs {shape}.")


# ---------------------------------------------------------------------------------------------
# Landmark embeddings


@dataclass(frozen=True, eq=False)
class LandmarkSet:
    """Landmarks on the mesh: triangle indices (L,) int64 and barycentric weights (L, 3) float32."""

    faces: np.ndarray
    bary: np.ndarray

    def __post_init__(self) -> None:
        L = self.faces.shape[0]
        _check(self.faces.ndim == 1 and self.bary.shape == (L, 3),
               f"A landmark set needs face indices (L,) and barycentric weights (L, 3); got "
               f"{self.faces.shape} and {self.bary.shape}.")

    def __len__(self) -> int:
        return int(self.faces.shape[0])


@dataclass(frozen=True, eq=False)
class LandmarkEmbedding:
    """Named landmark sets plus, optionally, DECA's yaw-dependent jaw contour.

    sets:            name -> :class:`LandmarkSet`; names used: ``'full68'`` (iBUG 68 order, fixed
                     contour), ``'static51'`` (iBUG points 17..67: brows, nose, eyes, mouth),
                     ``'mediapipe'`` (EMOCA's MediaPipe subset; ``mediapipe_indices`` says which)
    contour_faces:   (79, 17) int64 or None: contour triangles per yaw bin (DECA / TF_FLAME)
    contour_bary:    (79, 17, 3) float32 or None
    mediapipe_indices: (L,) int64 or None: the MediaPipe point index of each 'mediapipe' landmark
    """

    sets: Mapping[str, LandmarkSet]
    contour_faces: np.ndarray | None = None
    contour_bary: np.ndarray | None = None
    mediapipe_indices: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.contour_faces is not None:
            _check(self.contour_faces.shape == (N_CONTOUR_BINS, N_CONTOUR)
                   and self.contour_bary is not None
                   and self.contour_bary.shape == (N_CONTOUR_BINS, N_CONTOUR, 3),
                   f"The dynamic contour embedding needs faces ({N_CONTOUR_BINS}, {N_CONTOUR}) and "
                   f"barycentric weights ({N_CONTOUR_BINS}, {N_CONTOUR}, 3).")
        for name, s in self.sets.items():
            _check(int(s.faces.min(initial=0)) >= 0 and int(s.faces.max(initial=0)) < N_FACES,
                   f"The landmark set '{name}' indexes triangles outside 0..{N_FACES - 1}.")

    def merged(self, other: LandmarkEmbedding) -> LandmarkEmbedding:
        """This embedding with ``other``'s sets and contour added (``other`` wins on clashes)."""
        pick = other.contour_faces is not None
        return LandmarkEmbedding(
            sets={**self.sets, **other.sets},
            contour_faces=other.contour_faces if pick else self.contour_faces,
            contour_bary=other.contour_bary if pick else self.contour_bary,
            mediapipe_indices=(other.mediapipe_indices if other.mediapipe_indices is not None
                               else self.mediapipe_indices))

    def set68(self) -> LandmarkSet:
        """The 68 iBUG landmarks: ``'full68'``, else the zero-yaw contour + ``'static51'``."""
        if "full68" in self.sets:
            return self.sets["full68"]
        if "static51" in self.sets and self.contour_faces is not None:
            s = self.sets["static51"]
            return LandmarkSet(faces=np.concatenate([self.contour_faces[0], s.faces]),
                               bary=np.concatenate([self.contour_bary[0], s.bary]))
        raise FlameFormatError("The imported landmark embedding has no 68-point set: it needs DECA's "
                               "full_lmk_* keys, or a static 51-point set plus the dynamic contour.")

    @classmethod
    def from_dict(cls, data: object, *, source: str) -> LandmarkEmbedding:
        """Recognise the common embedding layouts (see the module docstring)."""
        _check(isinstance(data, Mapping),
               f"{source} holds a {type(data).__name__}, not a landmark embedding dict.")

        def arr(key: str, dtype: type[np.generic]) -> np.ndarray:
            val = data[key]
            _check(isinstance(val, np.ndarray) and val.dtype.kind in "biuf",
                   f"In {source}, '{key}' is a {type(val).__name__}, not a numeric array.")
            val = np.asarray(val, dtype)
            return val[0] if val.ndim >= 2 and val.shape[0] == 1 else val  # (1, L) -> (L,)

        sets: dict[str, LandmarkSet] = {}
        contour_f = contour_b = mp_idx = None
        if "static_lmk_faces_idx" in data:  # DECA landmark_embedding.npy
            sets["static51"] = LandmarkSet(arr("static_lmk_faces_idx", np.int64),
                                           arr("static_lmk_bary_coords", np.float32))
            if "full_lmk_faces_idx" in data:
                sets["full68"] = LandmarkSet(arr("full_lmk_faces_idx", np.int64),
                                             arr("full_lmk_bary_coords", np.float32))
            if "dynamic_lmk_faces_idx" in data:
                contour_f = np.asarray(data["dynamic_lmk_faces_idx"], np.int64)
                contour_b = np.asarray(data["dynamic_lmk_bary_coords"], np.float32)
        elif "lmk_face_idx" in data:  # TF_FLAME / FLAME_PyTorch / EMOCA layouts
            faces, bary = arr("lmk_face_idx", np.int64), arr("lmk_b_coords", np.float32)
            if faces.ndim == 2:
                contour_f, contour_b = faces, bary
            elif "landmark_indices" in data:
                sets["mediapipe"] = LandmarkSet(faces, bary)
                mp_idx = arr("landmark_indices", np.int64)
            elif faces.shape[0] == 68:
                sets["full68"] = LandmarkSet(faces, bary)
            elif faces.shape[0] == 51:
                sets["static51"] = LandmarkSet(faces, bary)
            else:
                raise FlameFormatError(f"In {source}, 'lmk_face_idx' has {faces.shape[0]} landmarks; "
                                       f"expected 51 (static), 68 (full) or a MediaPipe embedding.")
        else:
            raise FlameFormatError(
                f"{source} is not a FLAME landmark embedding: it has none of the keys "
                f"'static_lmk_faces_idx' (DECA) or 'lmk_face_idx' (TF_FLAME, EMOCA); it has "
                f"{', '.join(sorted(map(str, data)))}.")
        return cls(sets=sets, contour_faces=contour_f, contour_bary=contour_b, mediapipe_indices=mp_idx)

    # -- safetensors ------------------------------------------------------------------------
    def save(self, path: Path, *, metadata: Mapping[str, str] | None = None) -> None:
        tensors: dict[str, np.ndarray] = {}
        for name, s in self.sets.items():
            tensors[f"set.{name}.faces"], tensors[f"set.{name}.bary"] = s.faces, s.bary
        if self.contour_faces is not None:
            tensors["contour.faces"], tensors["contour.bary"] = self.contour_faces, self.contour_bary
        if self.mediapipe_indices is not None:
            tensors["mediapipe.indices"] = self.mediapipe_indices
        save_safetensors_atomic(path, tensors, {**(metadata or {}), "format": EMBEDDING_FORMAT})

    @classmethod
    def load(cls, path: Path) -> LandmarkEmbedding:
        t, _ = load_safetensors(path, expect_format=EMBEDDING_FORMAT)
        names = sorted({k.split(".")[1] for k in t if k.startswith("set.")})
        return cls(sets={n: LandmarkSet(t[f"set.{n}.faces"], t[f"set.{n}.bary"]) for n in names},
                   contour_faces=t.get("contour.faces"), contour_bary=t.get("contour.bary"),
                   mediapipe_indices=t.get("mediapipe.indices"))


# ---------------------------------------------------------------------------------------------
# safetensors helpers


def save_safetensors_atomic(path: Path, tensors: Mapping[str, np.ndarray],
                            metadata: Mapping[str, str]) -> None:
    """Write ``tensors`` to ``path`` through a temporary file in the same folder and a rename."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=dict(metadata))


def load_safetensors(path: Path, *, expect_format: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every tensor and the metadata; check the ``format`` metadata entry."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="np") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError) as exc:
        raise FlameFormatError(f"Cannot read {path}: {exc}. Import the FLAME files again.") from exc
    _check(meta.get("format") == expect_format,
           f"{path.name} is not a converted FLAME file (format {meta.get('format')!r}, expected "
           f"{expect_format!r}). Import the FLAME files again.")
    return tensors, meta
