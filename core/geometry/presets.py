"""Expression presets: named AU vectors stored as small, strictly validated JSON files.

Format (``resources/presets/*.json`` built in; the user's own under ``<data home>/presets``)::

    {
      "format": "gafet-expression-preset",
      "version": 1,
      "name": "happy",                          # [A-Za-z0-9 _.-], 1..64 chars
      "description": "…",                       # optional, ≤ 500 chars
      "aus": {"AU06": 0.8, "AU12": 1.0}         # known AU names → numbers in [0, 1]; others 0
    }

Loading is safe by construction — JSON only (never pickle, unlike ``.exp``/dill presets of some
peers) — and strict: at most 64 KiB, UTF-8, no duplicate keys, no NaN/Infinity, no unknown keys,
AU names from the model's 20, values real numbers in [0, 1] (booleans refused). Every problem
raises :class:`PresetError` with a sentence naming the file and the offending field.

Saving writes a temporary file in the target folder, flushes and fsyncs it, then renames it over
the destination (:mod:`core.io.atomic`): a crash never leaves a half-written preset.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from core.errors import GafetError
from core.io.atomic import atomic_write_bytes

__all__ = ["AU_NAMES", "BUILTIN_PRESETS", "ExpressionPreset", "InvalidPresetNameError", "PresetError",
           "PresetNotFoundError", "builtin_preset", "check_preset_name", "find_preset", "load_preset",
           "parse_preset", "preset_path", "save_preset", "user_presets_dir"]

FORMAT = "gafet-expression-preset"
VERSION = 1
MAX_BYTES = 64 * 1024
NAME_RE = re.compile(r"^[A-Za-z0-9 _.\-]{1,64}$")
# The built-in AU model's 20 action units (py-feat au_to_mesh_pls_v4 order).
AU_NAMES = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU11", "AU12",
            "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43")
BUILTIN_PRESETS = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear")
_KEYS = {"format", "version", "name", "description", "aus"}
_REQUIRED = {"format", "version", "name", "aus"}


class PresetError(GafetError):
    """A preset file is missing, unreadable or invalid."""


class InvalidPresetNameError(PresetError):
    """A name the preset format does not allow (a user typed it); ``str()`` is UI-ready."""


@dataclass(frozen=True)
class ExpressionPreset:
    """A validated preset. ``aus``: AU name → intensity in [0, 1] (unlisted AUs are 0)."""

    name: str
    aus: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name, "preset")
        object.__setattr__(self, "aus", MappingProxyType(_check_aus(self.aus, "preset")))
        if not isinstance(self.description, str) or len(self.description) > 500:
            raise PresetError("preset: 'description' must be a string of at most 500 characters")

    def vector(self, au_names: Sequence[str] = AU_NAMES) -> list[float]:
        """Intensities in ``au_names`` order (0 for unlisted AUs)."""
        return [float(self.aus.get(n, 0.0)) for n in au_names]

    def to_json(self) -> dict:
        """The file content as a plain dict."""
        out: dict = {"format": FORMAT, "version": VERSION, "name": self.name}
        if self.description:
            out["description"] = self.description
        out["aus"] = {n: self.aus[n] for n in AU_NAMES if n in self.aus}
        return out


def check_preset_name(name: str) -> None:
    """Refuse a name a preset cannot have: 1-64 letters, digits, spaces, '_', '.' or '-'.

    Raises :class:`InvalidPresetNameError` with a sentence a UI can show as is.
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidPresetNameError(
            f"'{name}' cannot be a preset name: use 1-64 letters, digits, spaces, '_', '.' or '-'.")


def preset_path(folder: str | os.PathLike, name: str) -> Path:
    """Where preset ``name`` is saved in ``folder``: ``<folder>/<name, spaces as '_'>.json``."""
    return Path(folder) / (name.replace(" ", "_") + ".json")


def _check_name(name: object, where: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise PresetError(f"{where}: 'name' must be 1-64 characters of letters, digits, space, '_', '.', "
                          f"'-'; got {name!r}")


def _check_aus(aus: object, where: str) -> dict[str, float]:
    if not isinstance(aus, Mapping):
        raise PresetError(f"{where}: 'aus' must be an object mapping AU names to numbers")
    out: dict[str, float] = {}
    for key, value in aus.items():
        if key not in AU_NAMES:
            raise PresetError(f"{where}: unknown action unit {key!r}; known: {', '.join(AU_NAMES)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PresetError(f"{where}: {key} must be a number in [0, 1], got {value!r}")
        v = float(value)
        if not math.isfinite(v) or not 0.0 <= v <= 1.0:
            raise PresetError(f"{where}: {key} must be in [0, 1], got {value!r}")
        out[key] = v
    return out


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"duplicate key(s) {', '.join(map(repr, dup))}")
    return dict(pairs)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def parse_preset(text: str | bytes, *, source: str = "preset") -> ExpressionPreset:
    """Validate preset JSON text (see the module docstring) → :class:`ExpressionPreset`."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_BYTES:
        raise PresetError(f"{source}: file is {len(raw)} bytes; presets are at most {MAX_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates,
                         parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise PresetError(f"{source}: not a valid preset JSON file ({err})") from None
    if not isinstance(doc, dict):
        raise PresetError(f"{source}: the top level must be a JSON object")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise PresetError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}")
    missing = sorted(_REQUIRED - set(doc))
    if missing:
        raise PresetError(f"{source}: missing key(s) {', '.join(map(repr, missing))}")
    if doc["format"] != FORMAT:
        raise PresetError(f"{source}: 'format' must be {FORMAT!r}, got {doc['format']!r}")
    if doc["version"] != VERSION or isinstance(doc["version"], bool):
        raise PresetError(f"{source}: unsupported version {doc['version']!r} (this app reads {VERSION})")
    _check_name(doc["name"], source)
    aus = _check_aus(doc["aus"], source)
    description = doc.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        raise PresetError(f"{source}: 'description' must be a string of at most 500 characters")
    return ExpressionPreset(name=doc["name"], aus=aus, description=description)


def load_preset(path: str | os.PathLike) -> ExpressionPreset:
    """Read and validate a preset file."""
    from core.io.json_file import read_bounded

    p = Path(path)
    raw = read_bounded(p, MAX_BYTES, source=f"preset {p}", error=PresetError, noun="preset")
    return parse_preset(raw, source=str(p))


def builtin_preset(name: str) -> ExpressionPreset:
    """One of :data:`BUILTIN_PRESETS` (shipped in ``resources/presets``)."""
    if name not in BUILTIN_PRESETS:
        raise PresetError(f"no built-in preset {name!r}; built-in: {', '.join(BUILTIN_PRESETS)}")
    res = resources.files("resources").joinpath("presets", f"{name}.json")
    return parse_preset(res.read_bytes(), source=f"built-in preset {name}")


def user_presets_dir() -> Path:
    """``<data home>/presets`` (see :func:`core.assets.data_home`); not created here."""
    from core.assets import data_home

    return data_home() / "presets"


class PresetNotFoundError(PresetError):
    """A preset name that is neither a file, a built-in preset nor one of the user's presets."""


def find_preset(name: str) -> ExpressionPreset:
    """The preset a user names: a ``.json`` file, a built-in name (:data:`BUILTIN_PRESETS`), or one of
    the user's saved presets (:func:`user_presets_dir`), in that order. Raises
    :class:`PresetNotFoundError` (or :class:`PresetError` for an invalid file)."""
    path = Path(name)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise PresetNotFoundError(f"No expression preset '{name}' was found: the file does not exist.")
        return load_preset(path)
    if name in BUILTIN_PRESETS:
        return builtin_preset(name)
    user = user_presets_dir() / f"{name}.json"
    if user.is_file():
        return load_preset(user)
    raise PresetNotFoundError(f"No expression preset '{name}' was found; built-in presets: "
                              f"{', '.join(BUILTIN_PRESETS)}, or give a .json file.")


def save_preset(preset: ExpressionPreset, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``preset`` as ``<folder>/<name>.json`` atomically; returns the path.

    The file name is the preset name with spaces as '_'. Raises :class:`PresetError` if it
    exists and ``overwrite`` is False, or on an OS error.
    """
    folder = Path(folder)
    dest = preset_path(folder, preset.name)
    if dest.name in (".json", "..json") or dest.name.startswith("."):
        raise PresetError(f"preset name {preset.name!r} does not make a usable file name")
    if dest.exists() and not overwrite:
        raise PresetError(f"preset file {dest} exists; choose another name or overwrite it")
    data = (json.dumps(preset.to_json(), indent=2) + "\n").encode("utf-8")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(dest, data)
    except OSError as err:
        raise PresetError(f"cannot save preset to {dest}: {err.strerror or err}") from None
    return dest
