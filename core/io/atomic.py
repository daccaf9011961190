"""Atomic file writes: a file appears under its name whole, or not at all.

Every file the project writes goes through here: exported photos, checkpoints, presets, OBJ
meshes, asset archives and folders, FLAME assets and receipts. The data goes into a hidden
temporary file in the destination folder (``.<name>.<random>.part``), is flushed and fsynced,
and only then takes the final name with one rename (``os.replace``: atomic within a file system
on POSIX and Windows); the folder is fsynced too where the OS allows, so the rename survives a
power cut. An exception while writing (a full disk, an encoder error) leaves the previous file,
or none, and removes the temporary file. A process killed mid-write leaves the previous file (or
none) under the name, never a partial one; only its hidden temporary file stays behind.

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

``overwrite=False`` (files only) never replaces an existing file, even one that appears while
writing: the final step is then a hard link, which fails with :class:`FileExistsError` if the
name is taken.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
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


def _new_temp(path: Path) -> tuple[int, Path]:
    """A new empty hidden file beside ``path`` with the normal permissions: (open fd, its path)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
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


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a new empty hidden folder beside ``path`` to fill; on success it replaces ``path``.

    On normal exit an existing ``path`` is renamed aside and deleted, then the new folder is
    renamed to ``path`` (each rename is atomic; a crash between the two leaves no folder under the
    name, never a half-filled one). On an exception the new folder is deleted and ``path`` is left
    as it was. The parent folder must exist.
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-"))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}-old-{os.getpid()}")
            os.replace(path, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
