"""Synthetic FLAME files for tests: FLAME's keys, shapes and object types, made-up contents.

Nothing here comes from the licensed model. The mesh is a head-sized ellipsoid (5,023
vertices, 9,976 triangles, FLAME's counts; +z is the face, y up, metres) with two small
"eyeballs"; the shape, expression and pose-corrective bases are random *low-frequency*
displacement fields (sums of a few sinusoids of position), so a few components are
identifiable from 68 landmarks; skinning weights give the jaw the lower front of the head.

Pickled like FLAME 2020: protocol 2, ``shapedirs`` / ``posedirs`` / ``v_template`` / ``J`` as
chumpy ``Ch`` objects, ``J_regressor`` a scipy ``csc_matrix``, ``f`` uint32, ``kintree_table``
with 2**32-1 as the root's parent. chumpy is not installed: :class:`Ch` below pickles under the
global name ``chumpy.ch.Ch`` the way chumpy's ``Ch`` does (protocol-2 ``NEWOBJ`` of the class,
then ``BUILD`` with ``__getstate__``: a copy of ``__dict__`` minus ``_parents`` and ``_cache``,
the value under ``'x'``; read from mattloper/chumpy ``ch.py``). A fake ``chumpy.ch`` module is
put in ``sys.modules`` only while pickling, so pickle can name the class.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import pickle
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import scipy.sparse
import torch

from core.geometry.flame.assets import FlameAssets, LandmarkEmbedding

V, F, K, P = 5023, 9976, 400, 36
ROWS, COLS = 50, 100  # latitude x longitude grid: 5,000 vertices, 9,800 triangles
EYE_CENTRES = ((0.035, 0.03, 0.075), (-0.035, 0.03, 0.075))  # left, right (subject's view: +x left)


class Ch:
    """Stand-in for chumpy.ch.Ch with chumpy's pickled form (see the module docstring)."""

    def __init__(self, x: np.ndarray) -> None:
        self.__dict__.update(x=np.asarray(x, np.float64), _dirty_vars={"x"}, _itr=None, _make_dense=False,
                             _make_sparse=False, _depends_on_deps={}, _parents={}, _cache={"r": None})

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_parents"], state["_cache"]
        return state


class ChOp:
    """Stand-in for a chumpy operation object; ``module``/``name`` set per subclass."""

    def __init__(self, **state: Any) -> None:
        self.__dict__.update(state, _dirty_vars=set(), _itr=None)


@contextlib.contextmanager
def fake_chumpy(*op_classes: type) -> Iterator[None]:
    """Make ``chumpy.ch.Ch`` (and given op classes) nameable by pickle, then remove the modules."""
    saved = {n: sys.modules.get(n) for n in ("chumpy", "chumpy.ch", "chumpy.reordering", "chumpy.ch_ops")}
    mods = {n: types.ModuleType(n) for n in saved}
    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mods["chumpy.ch"].Ch = Ch
    for cls in op_classes:
        setattr(mods[cls.__module__], cls.__qualname__, cls)
    sys.modules.update(mods)
    try:
        yield
    finally:
        Ch.__module__, Ch.__qualname__ = __name__, "Ch"
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def make_op_class(module: str, name: str) -> type:
    return type(name, (ChOp,), {"__module__": module, "__qualname__": name})


# ---------------------------------------------------------------------------------------------
# Geometry


def _ellipsoid(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    x, y, z = 0.08 * np.cos(lat) * np.sin(lon), 0.10 * np.sin(lat), 0.09 * np.cos(lat) * np.cos(lon)
    return np.stack([x, y, z], -1)


def _mesh(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lat = np.deg2rad(np.linspace(-75, 75, ROWS))
    lon = np.linspace(0, 2 * np.pi, COLS, endpoint=False)
    grid = _ellipsoid(*np.meshgrid(lat, lon, indexing="ij")).reshape(-1, 3)
    idx = np.arange(ROWS * COLS).reshape(ROWS, COLS)
    a, b = idx[:-1], np.roll(idx[:-1], -1, axis=1)
    c, d = idx[1:], np.roll(idx[1:], -1, axis=1)
    tris = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    n_eye = V - ROWS * COLS  # 23 eyeball vertices: 12 left, 11 right
    eye_of = np.arange(n_eye) % 2
    dirs = rng.normal(size=(n_eye, 3))
    eyes = np.asarray(EYE_CENTRES)[eye_of] + 0.012 * dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    e = ROWS * COLS + np.arange(n_eye)
    extra = np.concatenate([np.stack([e, np.roll(e, -k), np.roll(e, -2 * k)], -1) for k in range(1, 9)])
    faces = np.concatenate([tris, extra])[:F]
    return np.concatenate([grid, eyes]), faces.astype(np.uint32), eye_of


def _smooth_fields(rng: np.random.Generator, pts: np.ndarray, n: int, amplitude: np.ndarray) -> np.ndarray:
    """n random low-frequency displacement fields at ``pts`` → (N, 3, n): random mixes of 48
    random Fourier features sin(ω·x + φ), |ω| ≈ 4 per 10 cm: curved over a face, so
    the components are not confused with a change of pose."""
    omega = rng.normal(scale=4.0, size=(3, 48))
    basis = np.sin(pts / 0.1 @ omega + rng.uniform(0, 2 * np.pi, size=48))  # (N, 48)
    coef = rng.normal(size=(48, 3 * n)) / np.sqrt(48 / 2)
    return (basis @ coef).reshape(-1, 3, n) * amplitude


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def _find_faces(verts: np.ndarray, faces: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Grid triangles nearest to face-layout points uv (L, 2) in [-1, 1]² (u → +x, v → +y)."""
    pts = _ellipsoid(np.deg2rad(uv[:, 1] * 45), np.deg2rad(uv[:, 0] * 60))
    cent = verts[faces[: 2 * (ROWS - 1) * COLS].astype(np.int64)].mean(1)
    return ((pts[:, None] - cent[None]) ** 2).sum(-1).argmin(1)


def _layout68() -> np.ndarray:
    """An iBUG-68-like layout in [-1, 1]², u to the image right, v up."""
    t = np.pi + np.pi * np.arange(17) / 16
    jaw = np.stack([-0.85 * np.cos(t), 0.05 + 0.8 * np.sin(t)], -1)
    brows = np.stack([np.r_[np.linspace(-0.7, -0.15, 5), np.linspace(0.15, 0.7, 5)],
                      0.5 + 0.05 * np.sin(np.pi * np.r_[np.linspace(0, 1, 5), np.linspace(0, 1, 5)])], -1)
    nose = np.r_[np.stack([np.zeros(4), np.linspace(0.35, 0.0, 4)], -1),
                 np.stack([np.linspace(-0.2, 0.2, 5), np.full(5, -0.08)], -1)]
    ang6 = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    eyes = np.r_[np.stack([-0.4 + 0.15 * np.cos(ang6), 0.3 + 0.06 * np.sin(ang6)], -1),
                 np.stack([0.4 + 0.15 * np.cos(ang6), 0.3 + 0.06 * np.sin(ang6)], -1)]
    a12, a8 = np.linspace(0, 2 * np.pi, 12, endpoint=False), np.linspace(0, 2 * np.pi, 8, endpoint=False)
    mouth = np.r_[np.stack([0.35 * np.cos(a12), -0.4 + 0.15 * np.sin(a12)], -1),
                  np.stack([0.25 * np.cos(a8), -0.4 + 0.06 * np.sin(a8)], -1)]
    return np.concatenate([jaw, brows, nose, eyes, mouth])


class SyntheticFlame(NamedTuple):
    arrays: dict[str, Any]  # what the pickle holds, as plain numpy (float64 / uint32)
    embedding: dict[str, np.ndarray]  # DECA-style landmark embedding (numpy)


@functools.lru_cache(maxsize=2)
def synthetic_flame(seed: int = 0) -> SyntheticFlame:
    rng = np.random.default_rng(seed)
    verts, faces, eye_of = _mesh(rng)
    n_grid = ROWS * COLS
    lat, lon = np.meshgrid(np.deg2rad(np.linspace(-75, 75, ROWS)),
                           np.linspace(0, 2 * np.pi, COLS, endpoint=False), indexing="ij")
    lat, front = lat.ravel(), np.cos(lon.ravel())

    weights = np.zeros((V, 5))
    jaw = _smoothstep(-lat, np.deg2rad(5), np.deg2rad(25)) * _smoothstep(front, 0.0, 0.4)
    neck = _smoothstep(-lat, np.deg2rad(55), np.deg2rad(70)) * (1 - jaw)
    weights[:n_grid, 2], weights[:n_grid, 1] = jaw, neck
    weights[:n_grid, 0] = 1 - jaw - neck
    weights[n_grid + np.arange(V - n_grid), 3 + eye_of] = 1.0

    regressor = np.zeros((5, V))
    regressor[0, :n_grid] = 1.0 / n_grid  # root: head centre
    regressor[1, :COLS] = 1.0 / COLS  # neck: centre of the bottom ring
    jaw_row = int(np.argmin(np.abs(np.linspace(-75, 75, ROWS) + 20)))
    regressor[2, jaw_row * COLS:(jaw_row + 1) * COLS] = 1.0 / COLS  # jaw: axis at -20 deg latitude
    for e in (0, 1):
        members = n_grid + np.flatnonzero(eye_of == e)
        regressor[3 + e, members] = 1.0 / members.size

    decay = 1.0 / (1.0 + np.arange(K) % 300 / 30.0)
    amp = np.where(np.arange(K) < 300, 2e-3, 1.5e-3) * decay
    shapedirs = _smooth_fields(rng, verts, K, amp)
    posedirs = _smooth_fields(rng, verts, P, np.full(P, 1e-3))
    posedirs *= np.repeat(weights[:, 1:], 9, axis=1)[:, None, :]  # correctives only where the joint acts

    uv = _layout68()
    lmk_faces = _find_faces(verts, faces, uv)
    lmk_bary = rng.dirichlet(np.full(3, 4.0), size=68)
    contour_f = np.stack([_find_faces(verts, faces, uv[:17] + [y / 90.0, 0.0])
                          for y in (*range(0, 40), *range(-1, -40, -1))])
    contour_b = np.broadcast_to(lmk_bary[:17], (79, 17, 3)).copy()
    arrays = {
        "f": faces, "v_template": verts, "shapedirs": shapedirs, "posedirs": posedirs,
        "J_regressor": regressor, "weights": weights,
        "kintree_table": np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "J": regressor @ verts, "bs_style": "lbs", "bs_type": "lrotmin",
    }
    embedding = {
        "static_lmk_faces_idx": lmk_faces[17:], "static_lmk_bary_coords": lmk_bary[17:],
        "dynamic_lmk_faces_idx": contour_f, "dynamic_lmk_bary_coords": contour_b,
        "full_lmk_faces_idx": lmk_faces, "full_lmk_bary_coords": lmk_bary,
    }
    return SyntheticFlame(arrays=arrays, embedding=embedding)


def synthetic_assets(seed: int = 0) -> tuple[FlameAssets, LandmarkEmbedding]:
    """The synthetic model as validated assets (no pickle round trip)."""
    s = synthetic_flame(seed)
    return (FlameAssets.from_flame_dict(s.arrays, source="synthetic"),
            LandmarkEmbedding.from_dict(s.embedding, source="synthetic"))


# ---------------------------------------------------------------------------------------------
# Files


def pickled_form(arrays: dict[str, Any]) -> dict[str, Any]:
    """FLAME's object types: chumpy for the bases and template, csc for the regressor."""
    out = dict(arrays)
    for key in ("v_template", "shapedirs", "posedirs", "J"):
        if key in out and isinstance(out[key], np.ndarray):
            out[key] = Ch(out[key])
    if isinstance(out.get("J_regressor"), np.ndarray):
        out["J_regressor"] = scipy.sparse.csc_matrix(out["J_regressor"])
    return out


def write_flame_pickle(path: Path, *, seed: int = 0, drop: tuple[str, ...] = (),
                       replace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a FLAME-2020-like pickle; return the plain arrays it holds."""
    arrays = {k: v for k, v in synthetic_flame(seed).arrays.items() if k not in drop}
    arrays.update(replace or {})
    with fake_chumpy(), open(path, "wb") as fh:
        pickle.dump(pickled_form(arrays), fh, protocol=2)
    return arrays


def write_deca_embedding(path: Path, *, seed: int = 0) -> dict[str, np.ndarray]:
    """DECA's landmark_embedding.npy layout: a pickled dict in an object .npy; the dynamic
    contour as torch tensors (as in DECA's file), the rest numpy."""
    emb = synthetic_flame(seed).embedding
    data: dict[str, Any] = dict(emb)
    data["dynamic_lmk_faces_idx"] = torch.from_numpy(emb["dynamic_lmk_faces_idx"])
    data["dynamic_lmk_bary_coords"] = torch.from_numpy(emb["dynamic_lmk_bary_coords"].astype(np.float32))
    np.save(path, np.array(data, dtype=object), allow_pickle=True)
    return emb


def write_static_embedding(path: Path, *, seed: int = 0) -> dict[str, np.ndarray]:
    """TF_FLAME's flame_static_embedding.pkl layout (51 points)."""
    emb = synthetic_flame(seed).embedding
    data = {"lmk_face_idx": emb["static_lmk_faces_idx"].astype(np.uint32),
            "lmk_b_coords": emb["static_lmk_bary_coords"]}
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    return data


def write_dynamic_embedding(path: Path, *, seed: int = 0) -> dict[str, np.ndarray]:
    """TF_FLAME's flame_dynamic_embedding.npy layout (79 yaw bins x 17 contour points)."""
    emb = synthetic_flame(seed).embedding
    data = {"lmk_face_idx": emb["dynamic_lmk_faces_idx"], "lmk_b_coords": emb["dynamic_lmk_bary_coords"]}
    np.save(path, np.array(data, dtype=object), allow_pickle=True)
    return data


class SyntheticFiles(NamedTuple):
    model: Path  # generic_model.pkl-like pickle (protocol 2, chumpy + csc)
    deca_embedding: Path  # landmark_embedding.npy-like
    static_embedding: Path  # flame_static_embedding.pkl-like
    dynamic_embedding: Path  # flame_dynamic_embedding.npy-like


@functools.lru_cache(maxsize=1)
def synthetic_files() -> SyntheticFiles:
    """The synthetic files, written once per test session into a temporary folder (removed at
    exit), so every test module can read them without writing 75 MB again."""
    folder = Path(tempfile.mkdtemp(prefix="gafet-flame-test-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    files = SyntheticFiles(folder / "generic_model.pkl", folder / "landmark_embedding.npy",
                           folder / "flame_static_embedding.pkl", folder / "flame_dynamic_embedding.npy")
    write_flame_pickle(files.model)
    write_deca_embedding(files.deca_embedding)
    write_static_embedding(files.static_embedding)
    write_dynamic_embedding(files.dynamic_embedding)
    return files


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run small CPU ops on one thread: on a shared, loaded machine, torch's thread pool turns
    a 1 ms op into a 10 ms wait. Restores the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``$GAFET_HOME`` at ``tmp_path / "home"`` (returned; not created) and make stdin an
    empty non-terminal, so an import never prompts for the licence."""
    monkeypatch.setenv("GAFET_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return tmp_path / "home"
