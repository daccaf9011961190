"""Weights that metrics need but nobody may redistribute here: the user imports them, pinned by SHA-256.

FID, KID and IS need the Inception-v3 FID weights and LPIPS needs ImageNet AlexNet weights; none
of them ships inside a registry package, and the app never downloads from the web. A user who
has the file runs ``gafet assets import-weights NAME FILE``: the file's SHA-256 must equal the
pinned one, and the file is copied (atomically) to ``<data home>/weights/NAME/<file name>``.
Loading re-checks the hash once per process, so a tampered file is refused. Training's LPIPS and
contextual losses need torchvision's ImageNet VGG-16 and VGG-19 (``vgg16``, ``vgg19``), imported
the same way.

The paper's CSIM uses a face-recognition network: CurricularFace IR-101 (``curricularface``) or
ArcFace IResNet-100 / -50 (``arcface-r100`` / ``arcface-r50``), read by
:mod:`core.judges.iresnet`. No official SHA-256 of those files is known here, so the user gives
the hash that came with the download (``--sha256 HEX``): the import checks the file against it
and against the network (its keys and shapes must be exactly the network's, so a wrong file is
refused at import, not at evaluation), then records the hash beside the installed copy
(``IMPORTED.json``, written atomically); every later load re-checks the installed file against
that recorded hash.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.assets import AssetError, data_home, sha256_file
from core.errors import EXIT_ERROR, EXIT_UNREADABLE, GafetError
from core.io.atomic import atomic_path, atomic_write_text
from core.io.json_file import read_json_file

RECORD = "IMPORTED.json"  # beside a user-hashed file: the SHA-256 it was imported with


@dataclass(frozen=True)
class WeightsFile:
    """One importable weights file.

    name: what ``import-weights`` takes. filename: the file's usual name (kept on import).
    sha256 / size: the pinned file, or None where the user gives the hash (``--sha256``).
    used_by: the metrics that need it. origin: where people get it. network: the
    :data:`core.judges.iresnet.FACE_NETS` key whose state dict the file must hold, or None.
    """

    name: str
    filename: str
    sha256: str | None
    size: int | None
    used_by: str
    origin: str
    network: str | None = None

    @property
    def pinned(self) -> bool:
        """Whether the project knows the file's SHA-256 (else the user gives it on import)."""
        return self.sha256 is not None


_ARCFACE_ZOO = ("insightface's arcface_torch model zoo (github.com/deepinsight/insightface, "
                "recognition/arcface_torch/README.md, 'Model Zoo': the {tag} folder's backbone.pth; "
                "non-commercial research use)")

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
    # Training's perceptual losses (training/perceptual.py). SHA-256: torchvision's published file
    # hashes (the file name carries their first 8 hex digits), sizes in bytes.
    "vgg16": WeightsFile(
        name="vgg16",
        filename="vgg16-397923af.pth",
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        size=553_433_881,
        used_by="the LPIPS training loss (LPIPS v0.1 on VGG-16)",
        origin="torchvision's ImageNet VGG-16 (https://download.pytorch.org/models/vgg16-397923af.pth)",
    ),
    "vgg19": WeightsFile(
        name="vgg19",
        filename="vgg19-dcbb9e9d.pth",
        sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
        size=574_673_361,
        used_by="the contextual training loss (VGG-19 features)",
        origin="torchvision's ImageNet VGG-19 (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth)",
    ),
    "curricularface": WeightsFile(
        name="curricularface",
        filename="CurricularFace_Backbone.pth",
        sha256=None,
        size=None,
        used_by="CSIM (the paper's identity metric: CurricularFace IR-101, 512-d)",
        origin="the CurricularFace README (github.com/HuangYG123/CurricularFace, section 'Model': "
               "'The IR101 pretrained model', on Google Drive or Baidu Cloud)",
        network="curricularface",
    ),
    "arcface-r100": WeightsFile(
        name="arcface-r100",
        filename="backbone.pth",
        sha256=None,
        size=None,
        used_by="CSIM (ArcFace IResNet-100, 512-d)",
        origin=_ARCFACE_ZOO.format(tag="ms1mv3_arcface_r100_fp16 (or glint360k_cosface_r100_fp16_0.1)"),
        network="arcface-r100",
    ),
    "arcface-r50": WeightsFile(
        name="arcface-r50",
        filename="backbone.pth",
        sha256=None,
        size=None,
        used_by="CSIM (ArcFace IResNet-50, 512-d)",
        origin=_ARCFACE_ZOO.format(tag="ms1mv3_arcface_r50_fp16"),
        network="arcface-r50",
    ),
    # The De-expression pairs' StyleGAN2 (core/nets/stylegan2.py reads them without running code).
    **{f"stylegan2-ffhq-{r}": WeightsFile(
        name=f"stylegan2-ffhq-{r}", filename=f"stylegan2-ffhq-{r}.pt", sha256=None, size=None,
        used_by=f"the De-expression pair generator (StyleGAN2 FFHQ {r}²)",
        origin="a PyTorch state dict of a StyleGAN2 FFHQ generator ('g_ema'; rosinality/stylegan2-pytorch's "
               "layout, e.g. converted from NVIDIA's ffhq pickle with its convert_weight.py)")
       for r in (256, 512)},
}

# Names people may try, with why they are refused.
NOT_SUPPORTED: dict[str, str] = {
    "arcface": "ArcFace comes in two sizes: name the one you have, arcface-r100 (IResNet-100, about 261 MB) "
               "or arcface-r50 (IResNet-50, about 174 MB).",
}
_HEX64 = re.compile(r"[0-9a-f]{64}")


class WeightsError(GafetError):
    """A problem with a weights file named on the command line (exit code 1)."""

    exit_code = EXIT_ERROR


class UnknownWeightsError(WeightsError):
    """A weights name that is not importable (or not supported yet)."""


class HashRequiredError(WeightsError):
    """Weights without a pinned SHA-256 were imported without ``--sha256``, or with a malformed
    one (exit code 1). ``str()`` says where to get the file and how to compute its hash."""


class WeightsFileUnreadableError(WeightsError):
    """The file given to import cannot be read (exit code 2)."""

    exit_code = EXIT_UNREADABLE


class MissingWeightsError(AssetError):
    """Weights a metric needs are not imported (exit code 5). ``str()`` says how to import them."""


class WeightsIntegrityError(AssetError):
    """A weights file's SHA-256 is not the pinned (or recorded) one (exit code 5)."""


def weights_file(name: str) -> WeightsFile:
    """The :class:`WeightsFile` called ``name``; raises :class:`UnknownWeightsError` with the reason."""
    key = name.strip().lower()
    if key in WEIGHTS:
        return WEIGHTS[key]
    if key in NOT_SUPPORTED:
        raise UnknownWeightsError(NOT_SUPPORTED[key])
    raise UnknownWeightsError(f"Unknown weights '{name}'; importable: {', '.join(WEIGHTS)}.")


def face_net_weights() -> list[WeightsFile]:
    """The importable face-recognition weights (CSIM), the paper's own (CurricularFace) first."""
    return [w for w in WEIGHTS.values() if w.network is not None]


def weights_dir(home: Path | None = None) -> Path:
    return (home or data_home()) / "weights"


def installed_path(name: str, home: Path | None = None) -> Path:
    """Where the weights ``name`` live once imported (whether or not they are there)."""
    w = weights_file(name)
    return weights_dir(home) / w.name / w.filename


def record_path(name: str, home: Path | None = None) -> Path:
    """Where the SHA-256 a user-hashed file was imported with is recorded."""
    return installed_path(name, home).parent / RECORD


def _import_command(w: WeightsFile) -> str:
    hash_part = "" if w.pinned else " --sha256 HEX"
    return f"gafet assets import-weights {w.name} {w.filename}{hash_part}"


def missing_message(name: str) -> str:
    """What to tell a user whose metric needs the weights ``name``."""
    w = weights_file(name)
    if w.pinned:
        assert w.sha256 is not None and w.size is not None
        what = f"the weights file '{w.filename}' ({w.size / 1e6:.1f} MB, SHA-256 {w.sha256[:16]}…)"
    else:
        what = f"the weights file '{w.filename}'"
    return (f"{what}, used by {w.used_by}, is not imported. Get it from {w.origin}, then run "
            f"`{_import_command(w)}`.")


def hash_help(name: str) -> str:
    """How to get the weights ``name`` and check them: the message for an import without ``--sha256``."""
    w = weights_file(name)
    return (f"Importing '{w.name}' needs --sha256 HEX: no official SHA-256 of {w.filename} is known to "
            f"GaFET, so give the one published with your download, or one you computed on a copy you "
            f"trust (Linux: `sha256sum {w.filename}`; macOS: `shasum -a 256 {w.filename}`; Windows: "
            f"`certutil -hashfile {w.filename} SHA256`). The import checks the file against it and "
            f"records it, so any later change to the installed copy is detected. Get the file from "
            f"{w.origin}, then run `{_import_command(w)}`.")


def _normalized_hash(name: str, value: str) -> str:
    digest = value.strip().lower().removeprefix("sha256:")
    if not _HEX64.fullmatch(digest):
        raise HashRequiredError(f"--sha256 must be 64 hexadecimal digits (a SHA-256), got '{value.strip()}'. "
                                f"{hash_help(name)}")
    return digest


def _read_record(name: str, home: Path | None) -> dict[str, object] | None:
    path = record_path(name, home)
    if not os.path.lexists(path):
        return None
    fix = f"import the weights again (`{_import_command(weights_file(name))}`)"
    data = read_json_file(path, label="The import record", noun="import record", max_bytes=64 << 10,
                          error=lambda msg: WeightsIntegrityError(f"{msg.rstrip('.')}; {fix}."))
    if not isinstance(data, dict) or not _HEX64.fullmatch(str(data.get("sha256", ""))) \
            or not isinstance(data.get("size"), int):
        raise WeightsIntegrityError(f"The import record '{path}' is damaged; import the weights again "
                                    f"(`{_import_command(weights_file(name))}`).")
    return data


def is_imported(name: str, home: Path | None = None) -> bool:
    """Whether the file is in place (and, for user-hashed weights, its hash recorded)."""
    w = weights_file(name)
    if not installed_path(name, home).is_file():
        return False
    return w.pinned or record_path(name, home).is_file()


def expected_sha256(name: str, home: Path | None = None) -> str | None:
    """The SHA-256 the weights ``name`` are checked against: pinned, or recorded on import (None:
    a user-hashed file not imported)."""
    w = weights_file(name)
    if w.pinned:
        return w.sha256
    record = _read_record(name, home)
    return None if record is None else str(record["sha256"])


@functools.lru_cache(maxsize=8)
def _checked(path: str, mtime_ns: int, size: int, expected: str) -> bool:
    return sha256_file(Path(path)) == expected


def weights_path(name: str, home: Path | None = None) -> Path:
    """The imported, hash-checked weights file ``name``.

    Raises :class:`MissingWeightsError` (with how to import it) when absent, and
    :class:`WeightsIntegrityError` when its SHA-256 changed since the import (against the pinned
    hash, or the one recorded on import).
    """
    w = weights_file(name)
    path = installed_path(name, home)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MissingWeightsError(missing_message(name)) from None
    if w.pinned:
        expected, size = w.sha256, w.size
    else:
        record = _read_record(name, home)
        if record is None:
            raise MissingWeightsError(missing_message(name))
        expected, size = str(record["sha256"]), int(record["size"])  # type: ignore[call-overload]
    assert expected is not None
    if st.st_size != size or not _checked(str(path), st.st_mtime_ns, st.st_size, expected):
        raise WeightsIntegrityError(f"The imported weights '{path}' no longer match their SHA-256 "
                                    f"{expected}; import the file again.")
    return path


def import_weights(name: str, file: str | os.PathLike[str], home: Path | None = None, *,
                   sha256: str | None = None) -> Path:
    """Check ``file`` and copy it into place; returns where.

    Pinned weights: the file's SHA-256 must be the pinned one (``sha256``, when given, must be
    it too). User-hashed weights (face recognition): ``sha256`` is required, the file must match
    it and hold exactly the network's state dict; the hash is then recorded beside the copy.
    The copy is hashed and checked, so the file cannot change between the check and the install.

    Raises :class:`UnknownWeightsError`, :class:`HashRequiredError` (no or malformed ``sha256``),
    :class:`WeightsFileUnreadableError` (no such file), :class:`WeightsIntegrityError` (the hash
    differs) or :class:`core.judges.iresnet.FaceNetWeightsError` (not the network); on any of
    them nothing is installed and a previous import stays as it was.
    """
    w = weights_file(name)
    if sha256 is None and not w.pinned:
        raise HashRequiredError(hash_help(name))
    wanted = w.sha256 if sha256 is None else _normalized_hash(name, sha256)
    if w.pinned and wanted != w.sha256:
        raise WeightsError(f"--sha256 {wanted} is not the SHA-256 of {w.filename}; GaFET pins it to "
                           f"{w.sha256}. Leave --sha256 out for '{w.name}'.")
    assert wanted is not None
    src = Path(file)
    if not src.is_file():
        raise WeightsFileUnreadableError(f"Cannot read the weights file '{src}': it does not exist.")
    dest = installed_path(name, home)
    fresh = not dest.parent.exists()
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _install(w, src, dest, wanted, given=sha256 is not None, home=home)
    except BaseException:
        if fresh and not any(dest.parent.iterdir()):
            dest.parent.rmdir()  # a refused first import leaves no empty folder behind
        raise
    return dest


def _install(w: WeightsFile, src: Path, dest: Path, wanted: str, *, given: bool, home: Path | None) -> None:
    """Copy, check and publish ``src`` as ``dest`` (see :func:`import_weights`)."""
    size = 0
    with atomic_path(dest) as tmp:
        try:
            shutil.copyfile(src, tmp)
            digest = sha256_file(tmp)
        except OSError as err:
            raise WeightsFileUnreadableError(
                f"Cannot read the weights file '{src}': {err.strerror or err}.") from err
        if digest != wanted:
            source = "given with --sha256" if given else "expected"
            raise WeightsIntegrityError(f"'{src.name}' is not the expected {w.filename}: its SHA-256 is "
                                        f"{digest}, {source} {wanted}. Nothing was imported.")
        if w.network is not None:
            from core.judges.iresnet import FaceNetWeightsError, check_weights_file

            try:
                check_weights_file(w.network, tmp)
            except FaceNetWeightsError as err:
                raise FaceNetWeightsError(str(err).replace(str(tmp), str(src)) + " Nothing was imported.") \
                    from None
        if w.name.startswith("stylegan2-"):
            from core.nets.stylegan2 import check_weights_file as check_stylegan2

            check_stylegan2(tmp, resolution=int(w.name.rsplit("-", 1)[1]))
        size = tmp.stat().st_size
        if not w.pinned:
            record_path(w.name, home).unlink(missing_ok=True)  # never a new file under an old record
    if not w.pinned:
        record = {"name": w.name, "file": w.filename, "sha256": wanted, "size": size, "source": src.name,
                  "network": w.network}
        atomic_write_text(record_path(w.name, home), json.dumps(record, indent=2) + "\n")
