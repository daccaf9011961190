"""Weights that metrics need but nobody may redistribute here: the user imports them, pinned by SHA-256.

FID, KID and IS need the Inception-v3 FID weights and LPIPS needs ImageNet AlexNet weights; none
of them ships inside a registry package, and the app never downloads from the web. A user who
has the file runs ``gafet assets import-weights NAME FILE``: the file's SHA-256 must equal the
pinned one, and the file is copied (atomically) to ``<data home>/weights/NAME/<file name>``.
Loading re-checks the hash once per process, so a tampered file is refused.

Face-recognition weights for the paper's own CSIM (CurricularFace, ArcFace) are not supported
yet: the networks that read them are not in this release, so importing them is refused with
that reason rather than accepted and ignored.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.assets import AssetError, data_home, sha256_file
from core.errors import EXIT_ERROR, EXIT_UNREADABLE, GafetError
from core.io.atomic import atomic_path


@dataclass(frozen=True)
class WeightsFile:
    """One importable weights file.

    name: what ``import-weights`` takes. filename: the file's usual name (kept on import).
    sha256 / size: the pinned file. used_by: the metrics that need it. origin: where people get it.
    """

    name: str
    filename: str
    sha256: str
    size: int
    used_by: str
    origin: str


WEIGHTS: dict[str, WeightsFile] = {
    "inception-fid": WeightsFile(
        name="inception-fid",
        filename="pt_inception-2015-12-05-6726825d.pth",
        sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        size=95_628_359,
        used_by="FID, KID and IS",
        origin="pytorch-fid's release 'fid_weights' (github.com/mseitzer/pytorch-fid), a port of "
               "TensorFlow's inception-2015-12-05",
    ),
    "lpips-alexnet": WeightsFile(
        name="lpips-alexnet",
        filename="alexnet-owt-7be5be79.pth",
        sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
        size=244_408_911,
        used_by="LPIPS",
        origin="torchvision's ImageNet AlexNet (download.pytorch.org/models/alexnet-owt-7be5be79.pth)",
    ),
}

# Names people may try, with why they are refused.
NOT_SUPPORTED: dict[str, str] = {
    "curricularface": "CurricularFace (IR-101) is not supported yet: the network that reads its weights is "
                      "not part of this release. CSIM and ACD use dlib's 128-d ResNet and say so.",
    "arcface": "ArcFace is not supported yet: the network that reads its weights is not part of this "
               "release. CSIM and ACD use dlib's 128-d ResNet and say so.",
}


class WeightsError(GafetError):
    """A problem with a weights file named on the command line (exit code 1)."""

    exit_code = EXIT_ERROR


class UnknownWeightsError(WeightsError):
    """A weights name that is not importable (or not supported yet)."""


class WeightsFileUnreadableError(WeightsError):
    """The file given to import cannot be read (exit code 2)."""

    exit_code = EXIT_UNREADABLE


class MissingWeightsError(AssetError):
    """Weights a metric needs are not imported (exit code 5). ``str()`` says how to import them."""


class WeightsIntegrityError(AssetError):
    """A weights file's SHA-256 is not the pinned one (exit code 5)."""


def weights_file(name: str) -> WeightsFile:
    """The :class:`WeightsFile` called ``name``; raises :class:`UnknownWeightsError` with the reason."""
    key = name.strip().lower()
    if key in WEIGHTS:
        return WEIGHTS[key]
    if key in NOT_SUPPORTED:
        raise UnknownWeightsError(NOT_SUPPORTED[key])
    raise UnknownWeightsError(f"Unknown weights '{name}'; importable: {', '.join(WEIGHTS)}.")


def weights_dir(home: Path | None = None) -> Path:
    return (home or data_home()) / "weights"


def installed_path(name: str, home: Path | None = None) -> Path:
    """Where the weights ``name`` live once imported (whether or not they are there)."""
    w = weights_file(name)
    return weights_dir(home) / w.name / w.filename


def missing_message(name: str) -> str:
    """What to tell a user whose metric needs the weights ``name``."""
    w = weights_file(name)
    return (f"the weights file '{w.filename}' ({w.size / 1e6:.1f} MB, SHA-256 {w.sha256[:16]}…), used by "
            f"{w.used_by}, is not imported. Get it from {w.origin}, then run "
            f"`gafet assets import-weights {w.name} {w.filename}`.")


def is_imported(name: str, home: Path | None = None) -> bool:
    return installed_path(name, home).is_file()


@functools.lru_cache(maxsize=8)
def _checked(path: str, mtime_ns: int, size: int, expected: str) -> bool:
    return sha256_file(Path(path)) == expected


def weights_path(name: str, home: Path | None = None) -> Path:
    """The imported, hash-checked weights file ``name``.

    Raises :class:`MissingWeightsError` (with how to import it) when absent, and
    :class:`WeightsIntegrityError` when its SHA-256 changed since the import.
    """
    w = weights_file(name)
    path = installed_path(name, home)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MissingWeightsError(missing_message(name)) from None
    if st.st_size != w.size or not _checked(str(path), st.st_mtime_ns, st.st_size, w.sha256):
        raise WeightsIntegrityError(f"The imported weights '{path}' no longer match their SHA-256 "
                                    f"{w.sha256}; import the file again.")
    return path


def import_weights(name: str, file: str | os.PathLike[str], home: Path | None = None) -> Path:
    """Check ``file`` against the pinned SHA-256 of ``name`` and copy it into place; returns where.

    Raises :class:`UnknownWeightsError`, :class:`WeightsFileUnreadableError` (no such file) or
    :class:`WeightsIntegrityError` (the hash differs: nothing is installed).
    """
    w = weights_file(name)
    src = Path(file)
    if not src.is_file():
        raise WeightsFileUnreadableError(f"Cannot read the weights file '{src}': it does not exist.")
    try:
        digest = sha256_file(src)
    except OSError as err:
        raise WeightsFileUnreadableError(
            f"Cannot read the weights file '{src}': {err.strerror or err}.") from err
    if digest != w.sha256:
        raise WeightsIntegrityError(f"'{src.name}' is not the expected {w.filename}: its SHA-256 is "
                                    f"{digest}, expected {w.sha256}. Nothing was imported.")
    dest = installed_path(name, home)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest
