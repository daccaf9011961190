"""Edit parameters: everything one slider move or one undo step changes.

:class:`EditParams` is frozen, hashable (usable as a cache key and as a ``QUndoStack`` state)
and round-trips through JSON. Values are validated on construction, so an ``EditParams`` that
exists is always in range; invalid input raises :class:`InvalidEditParamsError` whose message
names the offending value.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import GafetError
from core.io.json_file import parse_json, read_json_file

MAX_JSON_BYTES = 64 << 10  # a set of edit settings is a few hundred bytes
ALPHA_MIN, ALPHA_MAX = 0.0, 1.5  # intensity: 0 = source expression, 1 = reference's, 1.5 = past it
REGION_WEIGHT_MIN, REGION_WEIGHT_MAX = 0.0, 1.5
AU_MIN, AU_MAX = 0.0, 1.0

# The 20 action units of the built-in AU face model, in its column order.
AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU11", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43",
)

# Regions a weight can be given to (the per-region sliders); the face model's named soft regions
# (core.geometry.face_model.REGION_NAMES). Vertices in none of them (forehead, temples, face
# oval) always follow the overall intensity.
REGION_NAMES: tuple[str, ...] = ("brows", "eyes", "nose", "mouth", "jaw", "cheeks")


class InvalidEditParamsError(GafetError, ValueError):
    """An intensity, region weight or AU value out of range, or an unknown name."""


def _check_range(what: str, v: float, lo: float, hi: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InvalidEditParamsError(f"{what} must be a number, got {v!r}.") from None
    if not math.isfinite(f) or not lo <= f <= hi:
        raise InvalidEditParamsError(f"{what} must be between {lo:g} and {hi:g}, got {v!r}.")
    return f


def normalize_au_name(au: str) -> str:
    """'au12', 'AU12', '12' -> 'AU12'. Raises :class:`InvalidEditParamsError` for unknown AUs."""
    s = str(au).strip().upper()
    if not s.startswith("AU"):
        s = "AU" + s
    digits = s[2:]
    if digits.isdigit():
        s = f"AU{int(digits):02d}"
    if s not in AU_NAMES:
        raise InvalidEditParamsError(f"Unknown action unit {au!r}; known: {', '.join(AU_NAMES)}.")
    return s


def normalize_region_name(name: str) -> str:
    s = str(name).strip().lower()
    if s not in REGION_NAMES:
        raise InvalidEditParamsError(f"Unknown face region {name!r}; known: {', '.join(REGION_NAMES)}.")
    return s


def _sorted_pairs(pairs: Mapping[str, float] | Iterable[tuple[str, float]], *,
                  kind: str) -> tuple[tuple[str, float], ...]:
    """Validate, normalise names, drop duplicates (last wins) and sort by name."""
    if isinstance(pairs, dict):
        pairs = tuple(pairs.items())
    out: dict[str, float] = {}
    for item in pairs:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise InvalidEditParamsError(
                f"Each {kind} entry must be a (name, value) pair, got {item!r}."
            ) from None
        if kind == "region":
            key = normalize_region_name(name)
            what = f"The weight of region '{key}'"
            out[key] = _check_range(what, value, REGION_WEIGHT_MIN, REGION_WEIGHT_MAX)
        else:
            key = normalize_au_name(name)
            out[key] = _check_range(f"The intensity of {key}", value, AU_MIN, AU_MAX)
    return tuple(sorted(out.items()))


@dataclass(frozen=True)
class EditParams:
    """The user's edit settings. Hashable; equal settings compare and hash equal.

    alpha: intensity in [0, 1.5]: 0 = the source's expression, 1 = the reference's, 1.5 = past it.
    regions: per-region weights ``((name, w), ...)`` with names from :data:`REGION_NAMES`, each
        w in [0, 1.5]; a missing region has weight 1. The effective per-region intensity is
        ``alpha * w``.
    au_overrides: ``((AUxx, v), ...)``: absolute target intensities in [0, 1] that replace the
        reference's value of that AU.
    """

    alpha: float = 1.0
    regions: tuple[tuple[str, float], ...] = ()
    au_overrides: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        alpha = _check_range("The intensity (alpha)", self.alpha, ALPHA_MIN, ALPHA_MAX)
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "regions", _sorted_pairs(self.regions, kind="region"))
        object.__setattr__(self, "au_overrides", _sorted_pairs(self.au_overrides, kind="au"))

    # --- queries ------------------------------------------------------------------------------

    def region_weight(self, name: str) -> float:
        """The weight of one region (1.0 when not set)."""
        return dict(self.regions).get(normalize_region_name(name), 1.0)

    def region_weights(self) -> dict[str, float]:
        """Every region's weight, including the default 1.0 ones."""
        given = dict(self.regions)
        return {r: given.get(r, 1.0) for r in REGION_NAMES}

    def au_override(self, au: str) -> float | None:
        return dict(self.au_overrides).get(normalize_au_name(au))

    # --- edits (each returns a new object) ---------------------------------------------------

    def with_alpha(self, alpha: float) -> EditParams:
        return EditParams(alpha=alpha, regions=self.regions, au_overrides=self.au_overrides)

    def with_region(self, name: str, w: float) -> EditParams:
        """A copy with region ``name`` set to weight ``w`` (1.0 removes the entry: it is the default)."""
        d = dict(self.regions)
        key = normalize_region_name(name)
        d[key] = _check_range(f"The weight of region '{key}'", w, REGION_WEIGHT_MIN, REGION_WEIGHT_MAX)
        if d[key] == 1.0:
            del d[key]
        return EditParams(alpha=self.alpha, regions=tuple(d.items()), au_overrides=self.au_overrides)

    def with_au(self, au: str, v: float | None) -> EditParams:
        """A copy with an override of ``au`` set to ``v`` (``None`` removes the override)."""
        d = dict(self.au_overrides)
        key = normalize_au_name(au)
        if v is None:
            d.pop(key, None)
        else:
            d[key] = _check_range(f"The intensity of {key}", v, AU_MIN, AU_MAX)
        return EditParams(alpha=self.alpha, regions=self.regions, au_overrides=tuple(d.items()))

    # --- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "regions": dict(self.regions), "au_overrides": dict(self.au_overrides)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EditParams:
        if not isinstance(d, dict):
            raise InvalidEditParamsError(f"Edit settings must be a JSON object, got {type(d).__name__}.")
        unknown = set(d) - {"alpha", "regions", "au_overrides"}
        if unknown:
            raise InvalidEditParamsError(f"Unknown edit setting(s): {', '.join(sorted(unknown))}.")
        for key in ("regions", "au_overrides"):
            if not isinstance(d.get(key) or {}, dict):
                raise InvalidEditParamsError(f"Edit setting '{key}' must be a JSON object of names to "
                                             f"numbers, got {type(d[key]).__name__}.")
        return cls(
            alpha=d.get("alpha", 1.0),
            regions=tuple(dict(d.get("regions") or {}).items()),
            au_overrides=tuple(dict(d.get("au_overrides") or {}).items()),
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "The edit settings text") -> EditParams:
        """Parse :meth:`to_json` output (text, or UTF-8 bytes of at most 64 KiB). Any problem (not
        UTF-8, not JSON, nested too deeply, a bad value) is an :class:`InvalidEditParamsError`
        whose message starts with ``source``."""
        d = parse_json(text, source=source, error=InvalidEditParamsError, max_bytes=MAX_JSON_BYTES,
                       noun="set of edit settings")
        if not isinstance(d, dict):
            raise InvalidEditParamsError(f"{source} must be a JSON object, got {type(d).__name__}.")
        return cls.from_dict(d)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> EditParams:
        """Read a JSON file of :meth:`to_json` output (a regular file, UTF-8, at most 64 KiB)."""
        d = read_json_file(path, error=InvalidEditParamsError, label="Edit settings file",
                           noun="set of edit settings", max_bytes=MAX_JSON_BYTES)
        if not isinstance(d, dict):
            raise InvalidEditParamsError(f"Edit settings file {path} must hold a JSON object, "
                                         f"got {type(d).__name__}.")
        try:
            return cls.from_dict(d)
        except InvalidEditParamsError as err:
            raise InvalidEditParamsError(f"Edit settings file {path}: {err}") from None
