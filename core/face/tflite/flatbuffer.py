"""Read-only access to FlatBuffers tables, the binary container of ``.tflite`` files.

Only what a TFLite model needs: tables, scalar fields with defaults, vectors of scalars, vectors of
tables, strings and unions. Layout facts (from the FlatBuffers format, little-endian):

* a table starts with an int32 *soffset*; ``table_pos - soffset`` is its vtable;
* a vtable is uint16 ``[vtable_bytes, table_bytes, field_0_offset, field_1_offset, ...]``; an offset
  of 0 (or a field past the vtable's end) means "absent, use the default";
* reference fields (tables, vectors, strings) hold a uint32 offset relative to the field itself;
* a vector is a uint32 length followed by its elements; a string is a vector of bytes;
* a union takes two field slots: a uint8 type tag, then the table reference.
"""

from __future__ import annotations

import struct

import numpy as np


class FlatBufferError(ValueError):
    """The bytes are not a well-formed FlatBuffer (truncated file, offsets out of range)."""


class Table:
    """One FlatBuffers table inside ``buf`` at byte ``pos``.

    Field accessors take the field's *slot* (its 0-based index in the schema; a union's type and
    value occupy two consecutive slots).
    """

    __slots__ = ("buf", "pos", "_vtable", "_vtable_len")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        self._check(pos, 4)
        (soffset,) = struct.unpack_from("<i", buf, pos)
        self._vtable = pos - soffset
        self._check(self._vtable, 4)
        (self._vtable_len,) = struct.unpack_from("<H", buf, self._vtable)

    @classmethod
    def root(cls, buf: bytes, *, identifier: bytes | None = None) -> Table:
        """The root table of a buffer; optionally check the 4-byte file identifier at bytes 4..8."""
        if len(buf) < 8:
            raise FlatBufferError(f"buffer of {len(buf)} bytes is too short for a FlatBuffer")
        if identifier is not None and buf[4:8] != identifier:
            raise FlatBufferError(f"file identifier is {bytes(buf[4:8])!r}, expected {identifier!r}")
        (root_off,) = struct.unpack_from("<I", buf, 0)
        return cls(buf, root_off)

    # -- low level ------------------------------------------------------------------------------

    def _check(self, pos: int, size: int) -> None:
        if pos < 0 or pos + size > len(self.buf):
            raise FlatBufferError(f"offset {pos}+{size} is outside the buffer of {len(self.buf)} bytes")

    def _field_pos(self, slot: int) -> int:
        """Absolute position of a field's data, or 0 when the field is absent."""
        entry = 4 + 2 * slot
        if entry >= self._vtable_len:
            return 0
        (off,) = struct.unpack_from("<H", self.buf, self._vtable + entry)
        return self.pos + off if off else 0

    def _deref(self, field_pos: int) -> int:
        self._check(field_pos, 4)
        (rel,) = struct.unpack_from("<I", self.buf, field_pos)
        return field_pos + rel

    # -- fields ---------------------------------------------------------------------------------

    def has(self, slot: int) -> bool:
        return self._field_pos(slot) != 0

    def scalar(self, slot: int, fmt: str, default: int | float | bool = 0) -> int | float | bool:
        """A scalar field; ``fmt`` is a struct code ('b', 'B', 'h', 'i', 'I', 'q', 'Q', 'f', '?')."""
        p = self._field_pos(slot)
        if not p:
            return default
        self._check(p, struct.calcsize(fmt))
        return struct.unpack_from("<" + fmt, self.buf, p)[0]

    def table(self, slot: int) -> Table | None:
        p = self._field_pos(slot)
        return Table(self.buf, self._deref(p)) if p else None

    def _vector(self, slot: int) -> tuple[int, int] | None:
        """(start of the elements, element count) of a vector field, or None when absent."""
        p = self._field_pos(slot)
        if not p:
            return None
        vec = self._deref(p)
        self._check(vec, 4)
        (n,) = struct.unpack_from("<I", self.buf, vec)
        return vec + 4, n

    def vector_len(self, slot: int) -> int:
        v = self._vector(slot)
        return 0 if v is None else v[1]

    def array(self, slot: int, dtype: str) -> np.ndarray:
        """A vector of scalars as a read-only numpy array (empty when absent); dtype like '<i4'."""
        v = self._vector(slot)
        dt = np.dtype(dtype)
        if v is None:
            return np.zeros(0, dt)
        start, n = v
        self._check(start, n * dt.itemsize)
        return np.frombuffer(self.buf, dtype=dt, count=n, offset=start)

    def tables(self, slot: int) -> list[Table]:
        """A vector of tables (each element is a uint32 offset relative to itself)."""
        v = self._vector(slot)
        if v is None:
            return []
        start, n = v
        return [Table(self.buf, self._deref(start + 4 * i)) for i in range(n)]

    def string(self, slot: int) -> str:
        v = self._vector(slot)
        if v is None:
            return ""
        start, n = v
        self._check(start, n)
        return bytes(self.buf[start:start + n]).decode("utf-8", errors="replace")

    def union(self, type_slot: int) -> tuple[int, Table | None]:
        """A union stored at ``type_slot`` (the uint8 tag) and ``type_slot + 1`` (the table)."""
        tag = int(self.scalar(type_slot, "B", 0))
        return tag, (self.table(type_slot + 1) if tag else None)
