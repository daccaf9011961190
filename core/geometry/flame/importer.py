"""Import the user's licensed FLAME files; find and load them later.

FLAME is never downloaded or bundled by the app: the user registers at flame.is.tue.mpg.de,
accepts MPI-IS's licence, downloads FLAME 2020 (``generic_model.pkl``, ``male_model.pkl``,
``female_model.pkl``) or FLAME 2023 (``flame2023.pkl``), and imports it here. The import loads
the pickle with the restricted unpickler, checks its keys and shapes, converts it to
safetensors (no pickle) and writes it atomically under::

    <data home>/licensed/flame/flame_model.safetensors       the model (float32)
    <data home>/licensed/flame/flame_landmarks.safetensors   landmark embedding (if given)
    <data home>/licensed/flame/RECEIPT.json                  SHA-256 of sources and outputs

:func:`load_flame` builds a :class:`FlameModel` from there (re-checking the SHA-256), or raises
:class:`FlameNotImportedError` saying how to import.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.assets import AssetIntegrityError, AssetMissingError, data_home, sha256_file
from core.errors import GafetError
from core.geometry.flame.assets import N_SHAPE_FLAME, FlameAssets, LandmarkEmbedding
from core.geometry.flame.unpickler import load_restricted, load_restricted_npy
from core.io.atomic import atomic_write_text
from core.io.json_file import read_json_file

if TYPE_CHECKING:  # the import step does not need the model (nor torch)
    from core.geometry.flame.model import FlameConfig, FlameModel

__all__ = ["FLAME_LICENCE_NOTICE", "FlameImportError", "FlameImportResult", "FlameLicenceNotAcceptedError",
           "FlameNotImportedError", "flame_dir", "import_flame", "load_flame"]

MODEL_FILE = "flame_model.safetensors"
EMBEDDING_FILE = "flame_landmarks.safetensors"
RECEIPT_FILE = "RECEIPT.json"

FLAME_LICENCE_NOTICE = (
    "FLAME (2020 / 2023) is licensed by the Max Planck Institute for Intelligent Systems "
    "(MPI-IS) for NON-COMMERCIAL SCIENTIFIC RESEARCH purposes only; redistribution is not "
    "allowed (licence: https://flame.is.tue.mpg.de/modellicense.html). Landmark embeddings "
    "from DECA / EMOCA / TF_FLAME carry the same kind of non-commercial terms. By importing, you "
    "confirm that you registered at flame.is.tue.mpg.de, accepted that licence, and will use "
    "the model under its terms. GaFET Studio keeps a converted copy in your own data folder "
    "only; it never uploads, shares or bundles it."
)


class FlameNotImportedError(AssetMissingError):
    """No FLAME model has been imported into the data folder."""


class FlameImportError(GafetError):
    """A file given to the import cannot be read (missing, unreadable)."""


class FlameLicenceNotAcceptedError(GafetError):
    """An import was attempted without accepting FLAME's licence."""


@dataclass(frozen=True)
class FlameImportResult:
    model_path: Path  # the converted safetensors file
    embedding_path: Path | None
    source_sha256: str  # of the user's pickle
    model_sha256: str  # of the converted file


def flame_dir(home: Path | None = None) -> Path:
    """``<data home>/licensed/flame``."""
    return (home or data_home()) / "licensed" / "flame"


def _load_embedding_file(path: Path) -> LandmarkEmbedding:
    import numpy as np

    if not path.is_file():
        raise FlameImportError(f"Cannot import the landmark embedding {path}: no such file.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = load_restricted_npy(path)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    else:  # .pkl (TF_FLAME's flame_static_embedding.pkl)
        data = load_restricted(path)
    return LandmarkEmbedding.from_dict(data, source=path.name)


def import_flame(model: Path | str, *, embeddings: tuple[Path | str, ...] = (), accept_licence: bool,
                 home: Path | None = None, n_shape: int = N_SHAPE_FLAME) -> FlameImportResult:
    """Validate and convert the user's FLAME pickle (and landmark embeddings) into the data folder.

    ``accept_licence`` must be True: the caller showed :data:`FLAME_LICENCE_NOTICE` and the user
    agreed. Several embedding files are merged (e.g. TF_FLAME's static + dynamic files).
    Everything is validated before anything is written; files are replaced atomically.
    """
    if not accept_licence:
        raise FlameLicenceNotAcceptedError(
            "FLAME was not imported: its licence was not accepted. Read the notice and confirm it "
            "(the CLI asks, or pass --accept-licence).")
    src = Path(model)
    if not src.is_file():
        raise FlameImportError(f"Cannot import FLAME from {src}: no such file.")
    assets = FlameAssets.from_flame_dict(load_restricted(src), source=src.name, n_shape=n_shape)
    embedding = None
    for e in embeddings:
        part = _load_embedding_file(Path(e))
        embedding = part if embedding is None else embedding.merged(part)

    folder = flame_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    source_sha = sha256_file(src)
    meta = {"source_name": src.name, "source_sha256": source_sha}
    assets.save(folder / MODEL_FILE, metadata=meta)
    receipt: dict[str, object] = {
        "model": {"file": MODEL_FILE, "sha256": sha256_file(folder / MODEL_FILE), **meta},
        "licence_accepted": FLAME_LICENCE_NOTICE,
        "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    emb_path = None
    if embedding is not None:
        emb_path = folder / EMBEDDING_FILE
        emb_meta = {"sources": ", ".join(Path(e).name for e in embeddings)}
        embedding.save(emb_path, metadata=emb_meta)
        receipt["embedding"] = {"file": EMBEDDING_FILE, "sha256": sha256_file(emb_path),
                                "sources": {Path(e).name: sha256_file(Path(e)) for e in embeddings}}
    elif (folder / EMBEDDING_FILE).is_file():  # keep an embedding imported earlier
        emb_path = folder / EMBEDDING_FILE
        old = _read_receipt(folder)
        if "embedding" in old:
            receipt["embedding"] = old["embedding"]
    atomic_write_text(folder / RECEIPT_FILE, json.dumps(receipt, indent=2))
    return FlameImportResult(model_path=folder / MODEL_FILE, embedding_path=emb_path,
                             source_sha256=source_sha,
                             model_sha256=receipt["model"]["sha256"])  # type: ignore[index]


def _read_receipt(folder: Path) -> dict:
    try:
        doc = read_json_file(folder / RECEIPT_FILE, error=ValueError, label="FLAME receipt")
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _not_imported(where: Path) -> FlameNotImportedError:
    return FlameNotImportedError(
        f"No FLAME model is imported (looked in {where}). FLAME is licensed for non-commercial "
        f"research by MPI-IS and is not bundled: register at https://flame.is.tue.mpg.de, download "
        f"FLAME 2020 or 2023, then run `gafet assets import-flame path/to/generic_model.pkl "
        f"--embedding path/to/landmark_embedding.npy`.")


def load_flame(path: Path | str | None = None, *, config: FlameConfig | None = None,
               home: Path | None = None) -> FlameModel:
    """The imported FLAME model (CPU; move it with ``.to(device)``).

    path: a converted ``flame_model.safetensors`` or the folder holding it; default: the
    imported one under :func:`flame_dir`. The landmark embedding next to it is loaded too.
    Raises :class:`FlameNotImportedError` when nothing was imported and
    ``AssetIntegrityError`` when the file no longer matches its import receipt.
    """
    target = Path(path) if path is not None else flame_dir(home)
    folder, model_file = (target, target / MODEL_FILE) if target.is_dir() or path is None \
        else (target.parent, target)
    if not model_file.is_file():
        raise _not_imported(model_file.parent)
    receipt = _read_receipt(folder)
    for key, file in (("model", model_file), ("embedding", folder / EMBEDDING_FILE)):
        want = receipt.get(key, {}).get("sha256")
        if want and file.is_file() and (got := sha256_file(file)) != want:
            raise AssetIntegrityError(
                f"The imported FLAME file {file.name} has SHA-256 {got[:12]}..., but {want[:12]}... was "
                f"recorded at import. It was modified or damaged; import FLAME again.")
    from core.geometry.flame.model import FlameConfig, FlameModel

    assets = FlameAssets.load(model_file)
    emb_file = folder / EMBEDDING_FILE
    embedding = LandmarkEmbedding.load(emb_file) if emb_file.is_file() else None
    return FlameModel(assets=assets, embedding=embedding, config=config or FlameConfig())
