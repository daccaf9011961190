"""GaFET checkpoints: one ``.safetensors`` file with the config in its metadata.

Format (``format_version`` 1):

* tensors: the float32 state dicts of the networks, prefixed ``generator.``, ``discriminator.`` and
  ``component_discriminator.`` (the discriminators are optional: an inference export may hold the
  generator only); a training checkpoint (``training/state.py``) adds further parts of its own
  (``extra_tensors``: the live generator, optimiser state, RNG states), which readers of the
  networks ignore and :func:`read_tensors` returns;
* metadata (string -> string): ``format`` = ``"gafet-checkpoint"``, ``format_version`` = ``"1"``,
  ``config`` = the :class:`GafetConfig` as JSON (:func:`config_to_json`, which carries its own
  format version), ``digests`` = a JSON object ``{part: SHA-256}`` over each network's tensor
  names, dtypes, shapes and bytes in name order (detects damage inside the data, which
  safetensors' header checks cannot see; per part, so loading the generator alone hashes only
  it), and ``extra`` = a JSON object for the caller (e.g. the training step).

Loading checks, in order: the file exists; it is a complete safetensors file; it is a GaFET
checkpoint of a version this code reads; the config parses (and equals ``expected_config`` if
given); the tensor names and shapes match what the config builds; the digests match. Every
failure is a :class:`CheckpointError` (a :class:`GafetError`) whose message names the file and the
offending key, shapes or fields. Writes go to a temporary file in the same folder (created with the
usual permissions), are flushed to disk and then renamed over the target, so a crash never leaves
a half-written checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialize
from torch import nn

from core.errors import EXIT_ASSET, EXIT_OUTPUT_EXISTS, GafetError
from core.io.atomic import atomic_write_bytes
from core.nets.config import GafetConfig, GafetConfigError, config_from_json, config_to_dict, config_to_json
from core.nets.discriminator import ResidualDiscriminator
from core.nets.gafet import GaFET, GafetNetworks, build_networks

CHECKPOINT_FORMAT = "gafet-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
PARTS = ("generator", "discriminator", "component_discriminator")


class CheckpointError(GafetError):
    """Base class of checkpoint problems (the CLI exits with EXIT_ASSET: a model is missing or bad)."""

    exit_code = EXIT_ASSET


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


class CheckpointExistsError(CheckpointError, FileExistsError):
    """Refusing to overwrite an existing file."""

    exit_code = EXIT_OUTPUT_EXISTS


class CheckpointCorruptError(CheckpointError):
    """Not a readable safetensors file (damaged, truncated) or the weights' digest does not match."""


class CheckpointFormatError(CheckpointError):
    """A safetensors file that is not a GaFET checkpoint, or of a format version this code cannot read."""


class CheckpointConfigError(CheckpointError):
    """The stored config is missing or invalid, or differs from the config the caller expects."""


class CheckpointKeysError(CheckpointError):
    """Tensors the config needs are missing, or the file holds tensors the config does not build."""


class CheckpointShapeError(CheckpointError):
    """A tensor's shape differs from what the config builds."""

    def __init__(self, message: str, *, key: str, expected: tuple[int, ...], found: tuple[int, ...]) -> None:
        super().__init__(message)
        self.key = key
        self.expected = expected
        self.found = found


@dataclass(frozen=True)
class CheckpointHeader:
    """What a checkpoint holds, read without loading the weights."""

    path: Path
    format_version: int
    config: GafetConfig
    shapes: dict[str, tuple[int, ...]]  # tensor name -> shape
    dtypes: dict[str, str]  # tensor name -> safetensors dtype ("F32", ...)
    digests: dict[str, str]  # part -> SHA-256 of its tensors (empty for files without digests)
    extra: dict[str, Any]

    @property
    def parts(self) -> tuple[str, ...]:
        """Which networks the file holds, in :data:`PARTS` order."""
        return tuple(p for p in PARTS if any(k.startswith(p + ".") for k in self.shapes))


class LoadedCheckpoint(NamedTuple):
    """Networks on the requested device (discriminators None unless requested and present)."""

    config: GafetConfig
    generator: GaFET
    discriminator: ResidualDiscriminator | None
    component_discriminator: ResidualDiscriminator | None
    extra: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Saving


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # the buffer itself, no copy
    return h.hexdigest()


def _part_of(name: str) -> str:
    return name.split(".", 1)[0]


def _digests(tensors: Mapping[str, torch.Tensor]) -> dict[str, str]:
    parts = sorted({_part_of(k) for k in tensors})
    return {p: _digest({k: v for k, v in tensors.items() if _part_of(k) == p}) for p in parts}


def _check_digests(path: Path, tensors: Mapping[str, torch.Tensor], expected: Mapping[str, str]) -> None:
    for part, digest in _digests(tensors).items():
        if part in expected and expected[part] != digest:
            what = part.replace("_", " ")
            raise CheckpointCorruptError(f"{path} is damaged: the {what} weights do not match the digest "
                                         f"stored when the file was written.")


def _state(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().to("cpu", torch.float32).contiguous()
            for k, v in module.state_dict().items()}


def save_checkpoint(path: str | os.PathLike[str], networks: GafetNetworks | GaFET, *, overwrite: bool = False,
                    extra: Mapping[str, Any] | None = None,
                    extra_tensors: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write ``networks`` (all of them, or a bare generator) atomically to ``path``; returns the path.

    Raises :class:`CheckpointExistsError` if the file exists and ``overwrite`` is false.
    ``extra`` must be JSON-serialisable. ``extra_tensors``: more tensors stored as given (dtype kept),
    named ``<part>.<name>`` with a part outside :data:`PARTS` (e.g. a training run's optimiser
    state); they get digests like the networks and are read back with :func:`read_tensors`.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise CheckpointExistsError(f"{path} already exists; choose another name or allow overwriting.")
    if isinstance(networks, GaFET):
        modules: dict[str, nn.Module] = {"generator": networks}
        config = networks.config
    else:
        modules = networks.modules_by_name()
        config = networks.generator.config
    tensors: dict[str, torch.Tensor] = {}
    for part, module in modules.items():
        tensors.update(_state(part, module))
    for name, tensor in (extra_tensors or {}).items():
        if "." not in name or _part_of(name) in PARTS:
            raise ValueError(f"save_checkpoint: extra tensor name {name!r} must be '<part>.<name>' with a "
                             f"part other than {', '.join(PARTS)}")
        tensors[name] = tensor.detach().cpu().contiguous()
    try:
        extra_json = json.dumps(dict(extra or {}))
    except TypeError as err:
        raise ValueError(f"save_checkpoint: extra metadata is not JSON-serialisable ({err})") from None
    metadata = {"format": CHECKPOINT_FORMAT, "format_version": str(CHECKPOINT_FORMAT_VERSION),
                "config": config_to_json(config), "digests": json.dumps(_digests(tensors)),
                "extra": extra_json}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, serialize(tensors, metadata=metadata))
    return path


# ---------------------------------------------------------------------------------------------
# Reading


def read_header(path: str | os.PathLike[str]) -> CheckpointHeader:
    """Read and check a checkpoint's metadata and tensor shapes (no weights are loaded)."""
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise CheckpointFormatError(f"GaFET checkpoint {path} is not a regular file (a folder, a pipe "
                                        f"or a device).")
        raise CheckpointNotFoundError(f"GaFET checkpoint {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
            dtypes = {k: str(fh.get_slice(k).get_dtype()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointCorruptError(
            f"{path} is not a readable checkpoint: the file is damaged or incomplete ({err}).") from None
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointFormatError(f"{path} is a safetensors file but not a GaFET checkpoint "
                                    f"(metadata 'format' is {metadata.get('format')!r}).")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise CheckpointFormatError(f"{path} has an unreadable format_version "
                                    f"{metadata.get('format_version')!r}.") from None
    if version != CHECKPOINT_FORMAT_VERSION:
        newer = (" (written by a newer GaFET Studio; update the app)" if version > CHECKPOINT_FORMAT_VERSION
                 else "")
        raise CheckpointFormatError(f"{path} has checkpoint format version {version}; this version reads "
                                    f"{CHECKPOINT_FORMAT_VERSION}{newer}.")
    if "config" not in metadata:
        raise CheckpointConfigError(f"{path} has no model config in its metadata.")
    try:
        config = config_from_json(metadata["config"])
    except GafetConfigError as err:
        raise CheckpointConfigError(f"{path} has an invalid model config: {err}") from None
    try:
        extra = json.loads(metadata.get("extra", "{}"))
        digests = json.loads(metadata.get("digests", "{}"))
    except (json.JSONDecodeError, RecursionError):
        raise CheckpointFormatError(f"{path} has unreadable 'extra' or 'digests' metadata (not JSON, or "
                                    f"nested too deeply).") from None
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise CheckpointFormatError(f"{path} has malformed 'digests' metadata.")
    return CheckpointHeader(path=path, format_version=version, config=config, shapes=shapes, dtypes=dtypes,
                            digests=digests, extra=extra if isinstance(extra, dict) else {})


def config_differences(a: GafetConfig, b: GafetConfig) -> list[str]:
    """Human-readable ``field: a != b`` lines for every differing config field (nested dotted)."""

    def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}": v})
        return out

    fa, fb = flat(config_to_dict(a)), flat(config_to_dict(b))
    keys = sorted(set(fa) | set(fb))
    return [f"{k}: {fa.get(k)!r} != {fb.get(k)!r}" for k in keys if fa.get(k) != fb.get(k)]


def _expected_shapes(config: GafetConfig, parts: Iterable[str]) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        nets = build_networks(config).modules_by_name()
    return {f"{p}.{k}": tuple(v.shape) for p in parts if p in nets for k, v in nets[p].state_dict().items()}


def check_structure(header: CheckpointHeader, parts: Iterable[str]) -> None:
    """Check that the file's tensors for ``parts`` are exactly those the config builds, with equal shapes."""
    parts = tuple(parts)
    expected = _expected_shapes(header.config, parts)
    found = {k: s for k, s in header.shapes.items() if k.split(".", 1)[0] in parts}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        def listing(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")

        problems = ([f"missing {len(missing)} tensor(s): {listing(missing)}"] if missing else []) + (
            [f"{len(unexpected)} unexpected tensor(s): {listing(unexpected)}"] if unexpected else [])
        raise CheckpointKeysError(f"{header.path} does not match its config '{header.config.name}': "
                                  f"{'; '.join(problems)}.")
    for key in sorted(expected):
        if expected[key] != found[key]:
            raise CheckpointShapeError(
                f"{header.path}: tensor '{key}' has shape {list(found[key])}, but config "
                f"'{header.config.name}' needs {list(expected[key])}.",
                key=key, expected=expected[key], found=found[key])


def load_checkpoint(path: str | os.PathLike[str], *, expected_config: GafetConfig | None = None,
                    discriminators: bool = False, device: torch.device | str = "cpu",
                    verify: bool = True) -> LoadedCheckpoint:
    """Load a checkpoint's generator (and, with ``discriminators``, its discriminators).

    expected_config: if given, the stored config must equal it (else :class:`CheckpointConfigError`
    listing the differing fields). verify: check the SHA-256 digests of the loaded networks.
    Networks come back in train mode on ``device``, float32.
    """
    header = read_header(path)
    if expected_config is not None and header.config != expected_config:
        diff = config_differences(header.config, expected_config)
        more = " ..." if len(diff) > 6 else ""
        raise CheckpointConfigError(f"{header.path} holds a model with a different config than expected: "
                                    f"{'; '.join(diff[:6])}{more} (file != expected).")
    parts = ["generator"]
    if discriminators:
        for part in PARTS[1:]:
            needed = part == "discriminator" or header.config.switches.use_component_discriminator
            if needed and part not in header.parts:
                raise CheckpointKeysError(f"{header.path} holds no {part.replace('_', ' ')} weights "
                                          f"(it is a generator-only export).")
            if needed:
                parts.append(part)
    check_structure(header, parts)
    tensors = _read_parts(header, parts, verify=verify)
    with torch.device("meta"):
        nets = build_networks(header.config)
    modules = nets.modules_by_name()
    for part in parts:
        prefix = part + "."
        state = {k[len(prefix):]: v.to(torch.float32) for k, v in tensors.items() if k.startswith(prefix)}
        modules[part].load_state_dict(state, strict=True, assign=True)
        modules[part].to(device)
    return LoadedCheckpoint(
        config=header.config, generator=nets.generator,
        discriminator=nets.discriminator if "discriminator" in parts else None,
        component_discriminator=nets.component_discriminator if "component_discriminator" in parts else None,
        extra=header.extra)


def read_tensors(path: str | os.PathLike[str], parts: Iterable[str], *,
                 verify: bool = True) -> dict[str, torch.Tensor]:
    """The stored tensors of ``parts`` (networks, or parts written as ``extra_tensors``) by full name, on
    the CPU with their stored dtype. verify: check each part's digest (:class:`CheckpointCorruptError`)."""
    return _read_parts(read_header(path), tuple(parts), verify=verify)


def _read_parts(header: CheckpointHeader, parts: Iterable[str], *, verify: bool) -> dict[str, torch.Tensor]:
    """The tensors of ``parts`` from the file ``header`` describes, digests checked when ``verify``."""
    parts = tuple(parts)
    try:
        with safe_open(str(header.path), framework="pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys() if _part_of(k) in parts}
    except (SafetensorError, OSError) as err:
        raise CheckpointCorruptError(f"{header.path} could not be read: {err}.") from None
    if verify:
        _check_digests(header.path, tensors, header.digests)
    return tensors


def verify_checkpoint(path: str | os.PathLike[str]) -> CheckpointHeader:
    """Full check of a checkpoint (structure and digest of every part it holds); returns its header."""
    header = read_header(path)
    check_structure(header, header.parts or ("generator",))
    try:
        with safe_open(str(header.path), framework="pt") as fh:
            for part in header.parts:  # one network in memory at a time
                _check_digests(header.path, {k: fh.get_tensor(k) for k in fh.keys() if _part_of(k) == part},
                               header.digests)
    except (SafetensorError, OSError) as err:
        raise CheckpointCorruptError(f"{header.path} could not be read: {err}.") from None
    return header
