"""Read a small JSON file a user (or an older run) handed us, safely: the one home for it.

Every problem becomes the caller's own project error (a :class:`~core.errors.GafetError`
subclass, so its exit code) with a message that names the file and the problem:

* missing, a folder, a FIFO / device / socket (opened non-blocking and checked with ``fstat``,
  so a pipe never hangs the reader, even one swapped in after a check);
* larger than ``max_bytes`` (at most ``max_bytes + 1`` bytes are ever read);
* not UTF-8 (the offending byte and its offset);
* not JSON (the parser's message, line and column), a number too long to convert, or nesting too
  deep for the parser (``RecursionError``).

:func:`parse_json` does the decoding half for text or bytes that did not come from a file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["DEFAULT_MAX_BYTES", "parse_json", "open_regular", "read_bounded", "read_json_file"]

DEFAULT_MAX_BYTES = 1 << 20  # configs, records, receipts: a few hundred bytes to a few KB

ErrorFactory = Callable[[str], Exception]
PairsHook = Callable[[list[tuple[str, object]]], object]


def parse_json(data: str | bytes, *, source: str, error: ErrorFactory, max_bytes: int = DEFAULT_MAX_BYTES,
               noun: str = "JSON document", object_pairs_hook: PairsHook | None = None,
               parse_constant: Callable[[str], object] | None = None) -> object:
    """``json.loads(data)`` with every failure raised as ``error(message)``; ``source`` starts the
    message (e.g. ``"Config file /x/y.json"``). The hooks go to :func:`json.loads`; a ``ValueError``
    or ``TypeError`` they raise is reported too."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        raise error(f"{source} is {size:,} bytes, more than a {noun} can be ({max_bytes:,} at most).")
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise error(f"{source} is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}).") \
                from None
    else:
        text = data
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook, parse_constant=parse_constant)
    except json.JSONDecodeError as err:
        raise error(f"{source} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}).") \
            from None
    except RecursionError:
        raise error(f"{source}: its JSON is nested too deeply to be a {noun}.") from None
    except (ValueError, TypeError) as err:  # e.g. a 5,000-digit number, or a hook's refusal
        raise error(f"{source} is not a valid {noun} ({err}).") from None


def open_regular(path: Path, *, source: str, error: ErrorFactory) -> BinaryIO:
    """``path`` opened for binary reading, else ``error(message)``: missing, unreadable, or not a
    regular file (opened non-blocking, then checked with ``fstat``: a FIFO never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error(f"{source} does not exist.") from None
    except IsADirectoryError:
        raise error(f"{source} is not a regular file (a folder).") from None
    except OSError as err:
        raise error(f"{source} cannot be read: {err.strerror or err}.") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as err:
        os.close(fd)
        raise error(f"{source} cannot be read: {err.strerror or err}.") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a pipe, device or socket"
        raise error(f"{source} is not a regular file ({kind}).")
    return os.fdopen(fd, "rb")


def read_bounded(path: Path, max_bytes: int, *, source: str, error: ErrorFactory,
                 noun: str = "JSON document") -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``), else ``error(message)``."""
    with open_regular(path, source=source, error=error) as f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise error(f"{source} is {size:,} bytes, more than a {noun} can be ({max_bytes:,} at most).")
            data = f.read(max_bytes + 1)
        except OSError as err:
            raise error(f"{source} cannot be read: {err.strerror or err}.") from None
    if len(data) > max_bytes:  # it grew after the stat
        raise error(f"{source} is more than {max_bytes:,} bytes, more than a {noun} can be.")
    return data


def read_json_file(path: str | os.PathLike[str], *, error: ErrorFactory, label: str = "JSON file",
                   noun: str = "JSON document", max_bytes: int = DEFAULT_MAX_BYTES,
                   object_pairs_hook: PairsHook | None = None,
                   parse_constant: Callable[[str], object] | None = None) -> object:
    """The parsed content of the JSON file ``path`` (UTF-8, at most ``max_bytes``, a regular file).

    Every problem raises ``error(message)``, the message starting ``f"{label} {path}"`` (see the
    module docstring for the list). Returns whatever JSON value the file holds: the caller checks
    its shape.
    """
    path = Path(path)
    source = f"{label} {path}"
    data = read_bounded(path, max_bytes, source=source, error=error, noun=noun)
    return parse_json(data, source=source, error=error, max_bytes=max_bytes, noun=noun,
                      object_pairs_hook=object_pairs_hook, parse_constant=parse_constant)
