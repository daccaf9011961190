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

* ``deexpression CKPT`` (``gafet train --neutraliser deexpression CKPT``): a trained De-expression
  U²-Net (:mod:`training.deexpress`) applied to X's cached crop. Its X_n are computed once per
  cache and model and stored beside the cache (:class:`NeutralStore`:
  ``CACHE/neutral/deexpression-<model sha256[:16]>/``, memory-mapped ``.npy`` arrays in the cache's
  X_n layout, finished by a ``done.json``), so switching between neutralisers costs nothing after
  the first run; :class:`NeutralOverlay` is the cache with those X_n. X_n's parameters are X's
  identity and pose with zero AUs, and its mesh the AU model's vertices of them (the same
  approximation as ``warp``'s). :class:`DeexpressionNeutraliser` does the same for one prepared
  face (for ``gafet prepare``-style callers).

A new neutraliser implements :class:`Neutraliser` and registers in :data:`NEUTRALISERS`;
:class:`NeutralFace.params` may be None, and the caller then fits the mesh.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedSource
from core.errors import GafetError
from core.geometry.face_model import FaceParams, Pose
from core.geometry.presets import builtin_preset
from core.io.atomic import atomic_path, atomic_write_text
from core.io.json_file import read_json_file
from training.data.cache import FaceCache
from training.data.records import FaceArrays


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


# ---------------------------------------------------------------------------------------------
# A trained De-expression network as the neutraliser


DEEXPRESSION = "deexpression"
NEUTRAL_DIR = "neutral"
_DONE = "done.json"
_CHUNK = 64  # faces per network batch while filling a store


def _zero_au_mesh(params: FaceParams) -> np.ndarray:
    """(B, 468, 3) float32 crop px: the AU model's vertices of ``params`` with zero AUs."""
    from core.geometry.au.model import AUFaceModel

    zero = params.replace(expression=torch.zeros_like(params.expression))
    return AUFaceModel().vertices_of(zero).detach().cpu().numpy().astype(np.float32)


class DeexpressionNeutraliser:
    """X_n = the De-expression network's output on X's crop (module docstring)."""

    name = DEEXPRESSION

    def __init__(self, checkpoint: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> None:
        from training.deexpress.apply import DeexpressModel

        self.model = DeexpressModel.from_checkpoint(checkpoint, device=device)

    def neutralise(self, source: PreparedSource) -> NeutralFace:
        params = source.params.replace(expression=torch.zeros_like(source.params.expression))
        return NeutralFace(crop=self.model.neutralise_crop(source.aligned.crop),
                           landmarks=_zero_au_mesh(source.params)[0], params=params)


def _file_sha256(path: Path) -> str:
    from core.assets import sha256_file

    return sha256_file(path)


class NeutralStore:
    """X_n of every face of a cache made by one De-expression model (module docstring)."""

    def __init__(self, cache: FaceCache, checkpoint: str | os.PathLike[str]) -> None:
        self.cache = cache
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise UnknownNeutraliserError(f"De-expression model {self.checkpoint} does not exist.")
        self.sha256 = _file_sha256(self.checkpoint)
        self.name = f"{DEEXPRESSION}-{self.sha256[:16]}"
        self.root = cache.root / NEUTRAL_DIR / self.name

    @property
    def complete(self) -> bool:
        try:
            doc = read_json_file(self.root / _DONE, error=ValueError, label="Neutraliser record")
        except (OSError, ValueError):
            return False
        if not isinstance(doc, dict):
            return False
        return doc.get("samples") == len(self.cache) and doc.get("model_sha256") == self.sha256

    def build(self, *, device: torch.device | str = "cpu") -> None:
        """Compute and store X_n of every face (atomically per array; ``done.json`` last)."""
        from training.deexpress.apply import DeexpressModel

        model = DeexpressModel.from_checkpoint(self.checkpoint, device=device)
        n, size = len(self.cache), self.cache.size
        out = {f: [] for f in FaceArrays._fields}
        for start in range(0, n, _CHUNK):
            faces = [self.cache.face(i, "x") for i in range(start, min(n, start + _CHUNK))]
            crops = [model.neutralise_crop(np.asarray(f.image)) for f in faces]
            stacked = {name: torch.from_numpy(np.stack([np.asarray(getattr(f, name), np.float32)
                                                         for f in faces]))
                       for name in ("identity", "expression", "scale", "rotation", "translation")}
            params = FaceParams(identity=stacked["identity"], expression=stacked["expression"],
                                pose=Pose(scale=stacked["scale"], rotation=stacked["rotation"],
                                          translation=stacked["translation"]))
            out["image"].extend(crops)
            out["landmarks"].extend(_zero_au_mesh(params))
            for f in faces:
                out["expression"].append(np.zeros_like(np.asarray(f.expression, np.float32)))
                for name in ("identity", "scale", "rotation", "translation"):
                    out[name].append(np.asarray(getattr(f, name), np.float32))
        self.root.mkdir(parents=True, exist_ok=True)
        for name, parts in out.items():
            array = np.stack(parts) if parts else np.zeros((0,), np.float32)
            if name == "image":
                array = array.astype(np.uint8).reshape(n, size, size, 3)
            with atomic_path(self.root / f"{name}.npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, array)
        atomic_write_text(self.root / _DONE, json.dumps({
            "model": str(self.checkpoint.resolve()), "model_sha256": self.sha256, "samples": n,
            "size": size}, indent=1) + "\n")

    def arrays(self) -> dict[str, np.ndarray]:
        """The stored arrays, memory-mapped (read-only)."""
        return {f: np.load(self.root / f"{f}.npy", mmap_mode="r") for f in FaceArrays._fields}


class NeutralOverlay(FaceCache):
    """A face cache whose X_n come from a :class:`NeutralStore` (X, infos and the rest unchanged)."""

    def __init__(self, cache: FaceCache, store: NeutralStore) -> None:  # wraps an open cache: no re-read
        self.__dict__.update(cache.__getstate__())
        self.store_root = store.root
        self.neutraliser_name = store.name
        self.has_neutral = True
        self._xn: dict[str, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_xn"] = None  # re-mapped in the new process
        return state

    def face(self, index: int, which: str = "x") -> FaceArrays:
        if which != "xn":
            return super().face(index, which)
        if self._xn is None:
            self._xn = {f: np.load(self.store_root / f"{f}.npy", mmap_mode="r") for f in FaceArrays._fields}
        return FaceArrays(*(self._xn[f][index] for f in FaceArrays._fields))  # the cache's own indices


def deexpression_cache(cache: FaceCache, checkpoint: str | os.PathLike[str], *,
                       device: torch.device | str = "cpu") -> NeutralOverlay:
    """``cache`` with the X_n of the De-expression model ``checkpoint``, building its store first
    when it is missing (seconds per thousand faces at 64² on a CPU)."""
    store = NeutralStore(cache, checkpoint)
    if not store.complete:
        store.build(device=device)
    return NeutralOverlay(cache, store)
