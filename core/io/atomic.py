"""Atomic file writes: a file appears under its name whole, or not at all.

Every file the project writes goes through here: exported photos, checkpoints, presets, OBJ
meshes, asset archives and folders, FLAME assets and receipts. The data goes into a hidden
temporary file in the destination folder (``.<name>.<pid>-<random>.part``), is flushed and fsynced,
and only then takes the final name with one rename (``os.replace``: atomic within a file system
on POSIX and Windows); the folder is fsynced too where the OS allows, so the rename survives a
power cut. An exception while writing (a full disk, an encoder error) leaves the previous file,
or none, and removes the temporary file. A process killed mid-write leaves the previous file (or
none) under the name, never a partial one; only its hidden temporary file stays behind, and the
next write into that folder (in any process: the next run of the same command) removes it
(:func:`sweep_stale`: only names of exactly this pattern whose writer process is gone).

A folder (:func:`atomic_dir`) is swapped in with one atomic exchange of the two names where the
OS has one (Linux ``renameat2(RENAME_EXCHANGE)``, macOS ``renamex_np(RENAME_SWAP)``), so the old
folder stays under its name until the new one takes it. Elsewhere the old folder is first renamed
aside (``.<name>.<pid>-old.part``); if the process dies before the new one is in, the next sweep
puts the old one back.

New files get the permissions any new file would get (``0o666`` minus the umask), not the
``0o600`` of :func:`tempfile.mkstemp`.

    with atomic_write(path) as fh:                  # a binary file object ("w": text)
        fh.write(data)
    atomic_write_bytes(path, data)
    atomic_write_text(path, text, encoding="utf-8")
    with atomic_path(path) as tmp:                  # writers that need a file name (PIL, safetensors)
        save_file(tensors, tmp)
    move_into_place(finished_file, path)            # a file finished elsewhere in the same folder tree
    with atomic_dir(folder) as tmp:                 # a whole folder, swapped in at the end
        ...
    new_temp_dir(path)                              # a hidden scratch folder the sweep recognises
    sweep_stale(folder)                             # remove what killed writers left in a folder

``overwrite=False`` (files only) never replaces an existing file, even one that appears while
writing: the final step is then a hard link, which fails with :class:`FileExistsError` if the
name is taken.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "move_into_place",
    "new_temp_dir",
    "sweep_stale",
]

PathLike = str | os.PathLike[str]


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it; done once, at import
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_read_umask()  # what open(path, "w") gives a new file


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable, where the OS allows (not on Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)  # write access: Windows refuses fsync on a read-only handle
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Temporary names, and sweeping what killed writers left

TEMP_SUFFIX = ".part"
# .<name>.<pid>-<random>.part: a file or folder of a writer (pid) still working, or killed.
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d{1,10})-(?P<tag>[a-z0-9_]+)\.part$")
# .<name>.<8 random>.part: files from versions before the pid was recorded (mkstemp's alphabet).
_LEGACY_RE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.part$")
OLD_TAG = "old"  # .<name>.<pid>-old.part: a folder moved aside by atomic_dir's fallback
LEGACY_MIN_AGE_S = 30.0  # a pid-less temporary file younger than this may still be written
LIVE_MAX_AGE_S = 7 * 24 * 3600.0  # older than this, a "live" pid is another process reusing it

_swept: set[str] = set()
_swept_lock = threading.Lock()


def _temp_prefix(name: str) -> str:
    return f".{name}.{os.getpid()}-"


def _pid_alive(pid: int) -> bool | None:
    """Whether process ``pid`` runs (a zombie counts as gone); None where that cannot be asked."""
    if sys.platform == "win32":
        return None  # os.kill would terminate it
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    except OSError:
        return None
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] in "ZX":  # killed, not yet reaped by its parent
            return False
    return True


def _is_stale(name: str, age_s: float) -> tuple[bool, int | None]:
    """(whether the entry ``name`` is a temporary of a writer that is gone, the writer's pid)."""
    m = _TEMP_RE.match(name)
    if m:
        pid = int(m.group("pid"))
        if pid == os.getpid():
            return False, pid  # this process's own, maybe being written by another thread
        alive = _pid_alive(pid)
        if alive is None:
            return age_s > LEGACY_MIN_AGE_S * 20, pid
        return (not alive) or age_s > LIVE_MAX_AGE_S, pid
    if _LEGACY_RE.match(name):
        return age_s > LEGACY_MIN_AGE_S, None
    return False, None


def sweep_stale(folder: PathLike) -> list[Path]:
    """Remove the temporary files and folders that killed writers left in ``folder``; returns them.

    Only names of this module's patterns are touched (``.<name>.<pid>-<random>.part`` whose
    process is gone; the pid-less ``.<name>.<random>.part`` of older versions once 30 s old). A
    folder that :func:`atomic_dir` had moved aside (``.<name>.<pid>-old.part``) is put back under
    ``<name>`` if nothing took that name, else deleted. Never raises for a folder it cannot read.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(".") or not entry.name.endswith(TEMP_SUFFIX):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        stale, _ = _is_stale(entry.name, age)
        if not stale:
            continue
        path = Path(entry.path)
        m = _TEMP_RE.match(entry.name)
        try:
            if m and m.group("tag") == OLD_TAG and entry.is_dir(follow_symlinks=False):
                final = folder / m.group("name")
                if not final.exists():
                    os.rename(path, final)  # the swap was cut between its two renames: undo it
                    continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


def _sweep_once(folder: Path) -> None:
    """Sweep ``folder`` the first time this process writes into it (later writes cost nothing)."""
    try:
        key = str(folder.resolve())
    except OSError:
        return
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    sweep_stale(folder)


def new_temp_dir(path: PathLike) -> Path:
    """A new empty hidden folder beside ``path`` (``.<name>.<pid>-<random>.part``), e.g. for a
    download; :func:`sweep_stale` removes it if the process dies before the caller does."""
    path = Path(path)
    _sweep_once(path.parent)
    return Path(tempfile.mkdtemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=TEMP_SUFFIX))


def _new_temp(path: Path) -> tuple[int, Path]:
    """A new empty hidden file beside ``path`` with the normal permissions: (open fd, its path)."""
    _sweep_once(path.parent)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=TEMP_SUFFIX)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise
    return fd, Path(name)


def _publish(tmp: Path, path: Path, *, overwrite: bool) -> None:
    """Give the finished, fsynced ``tmp`` the name ``path`` (``tmp`` may remain: the caller removes it)."""
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists, even if it appeared just now
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links (FAT, some network shares)
            if path.exists():
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
            os.replace(tmp, path)
    _fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_path(path: PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it becomes ``path``.

    The temporary file exists (empty, normal permissions) when the block starts; write it by
    name (``Image.save(tmp)``, ``safetensors.save_file(..., tmp)``) and close it before the block
    ends. On normal exit it is fsynced and renamed onto ``path``; on an exception it is removed
    and ``path`` is left as it was. ``overwrite=False``: FileExistsError if ``path`` exists at
    the end. The folder must exist.
    """
    path = Path(path)
    fd, tmp = _new_temp(path)
    os.close(fd)
    try:
        yield tmp
        _fsync_file(tmp)
        _publish(tmp, path, overwrite=overwrite)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(
    path: PathLike, mode: Literal["wb", "w"] = "wb", *, encoding: str | None = None, overwrite: bool = True
) -> Iterator[IO]:
    """Yield a file object writing a temporary file beside ``path``; on success it becomes ``path``.

    mode: "wb" (bytes) or "w" (text; ``encoding`` defaults to UTF-8). On normal exit the file is
    flushed, fsynced, closed and renamed onto ``path``; on an exception it is removed and ``path``
    is left as it was. ``overwrite=False``: FileExistsError if ``path`` exists at the end. The
    folder must exist.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    if mode == "wb" and encoding is not None:
        raise ValueError("encoding is for text mode ('w') only")
    path = Path(path)
    fd, tmp = _new_temp(path)
    try:
        with os.fdopen(fd, mode, encoding=(encoding or "utf-8") if mode == "w" else None) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path, overwrite=overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, "wb", overwrite=overwrite) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str, *, encoding: str = "utf-8", overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, "w", encoding=encoding, overwrite=overwrite) as fh:
        fh.write(text)
    return Path(path)


def move_into_place(src: PathLike, path: PathLike, *, overwrite: bool = True) -> Path:
    """Move the finished file ``src`` (same file system, e.g. a download in a temporary folder
    beside ``path``) onto ``path`` atomically: fsync it, rename it, fsync the folder.

    ``overwrite=False``: FileExistsError if ``path`` exists (``src`` then stays). Returns ``path``.
    """
    src, path = Path(src), Path(path)
    _fsync_file(src)
    _publish(src, path, overwrite=overwrite)
    src.unlink(missing_ok=True)  # after a hard link both names remain
    return path


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names of two existing paths in one atomic step; False where the OS or the file system
    cannot (then nothing changed)."""
    libc = _libc()
    if libc is None:
        return False
    if sys.platform.startswith("linux"):
        fn = getattr(libc, "renameat2", None)
        if fn is None:
            return False
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        at_fdcwd, rename_exchange = -100, 2
        rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif sys.platform == "darwin":
        fn = getattr(libc, "renamex_np", None)
        if fn is None:
            return False
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        rc = fn(os.fsencode(a), os.fsencode(b), 2)  # RENAME_SWAP
    else:
        return False
    return rc == 0


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a new empty hidden folder beside ``path`` to fill; on success it replaces ``path``.

    On normal exit the new folder takes the name ``path`` while the old one (if any) still holds
    it until that instant: one atomic exchange of the two names where the OS has one, after
    which the old folder is deleted. Elsewhere the old folder is renamed aside first; a crash
    between the two renames leaves it as ``.<name>.<pid>-old.part``, which the next
    :func:`sweep_stale` of the parent folder puts back. On an exception the new folder is
    deleted and ``path`` is left as it was. The parent folder must exist.
    """
    path = Path(path)
    tmp = new_temp_dir(path)
    try:
        yield tmp
        if path.exists() and _exchange(tmp, path):
            _fsync_folder(path.parent)
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
            return
        if path.exists():
            old = path.with_name(f"{_temp_prefix(path.name)}{OLD_TAG}{TEMP_SUFFIX}")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # put the old folder back
                raise
            _fsync_folder(path.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
            _fsync_folder(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
