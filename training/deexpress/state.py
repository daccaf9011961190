"""A De-expression run and its one-file checkpoint (the pattern of :mod:`training.state`).

:class:`DeexpressState` holds the config, the U²-Net, its Adam optimiser, the
:class:`training.state.Progress` counters and the run's facts (pair source, data, perceptual
mode). A checkpoint is **one safetensors file**, written atomically
(:func:`core.io.atomic.atomic_write_bytes`), no pickle anywhere:

* ``net.*``: the U²-Net state dict (what ``gafet deexpress apply`` and the ``deexpression``
  neutraliser load);
* ``optimizer.<index>.<key>``: Adam's per-parameter state; ``rng.<rank>.<name>``: every rank's
  RNG states (:class:`training.state.RngSnapshot`);
* metadata ``gafet_deexpress``: JSON with the format version, the config, the progress, the
  optimiser's hyper-parameters and parameter-name digest, the RNG scalars, the run facts, and the
  SHA-256 of the ``net.*`` tensors (checked on load).

Checkpoints live in ``<run>/checkpoints/step-<step>.safetensors`` (:class:`DeexpressCheckpoints`,
the training module's folder with this format), and the loop also writes the network alone to
``<run>/deexpress.safetensors`` (:func:`export_model`, the file to use with ``--model``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialize

from core.io.atomic import atomic_write_bytes
from core.nets.checkpoint import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointFormatError,
    CheckpointKeysError,
    CheckpointNotFoundError,
)
from core.nets.u2net import U2Net
from training.deexpress.config import DeexpressConfig, DeexpressConfigError, config_from_dict, config_to_dict
from training.state import (
    CheckpointFolder,
    Progress,
    RngSnapshot,
    TrainingStateError,
    capture_rng,
    names_digest,
    optimizer_state,
    optimizer_tensors,
)

FORMAT = "gafet-deexpress"
FORMAT_VERSION = 1
META_KEY = "gafet_deexpress"
EXPORT_NAME = "deexpress.safetensors"
_NET = "net"
_OPT = "optimizer"
_RNG = "rng"


@dataclass(eq=False)
class DeexpressState:
    """Everything a De-expression run is (module docstring)."""

    config: DeexpressConfig
    net: U2Net
    optimizer: torch.optim.Adam
    progress: Progress = field(default_factory=Progress)
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device


def _adam(net: U2Net, config: DeexpressConfig) -> torch.optim.Adam:
    return torch.optim.Adam(net.parameters(), lr=config.lr, betas=config.betas, eps=config.eps)


def new_state(config: DeexpressConfig, *, device: torch.device | str = "cpu",
              run: Mapping[str, Any] | None = None) -> DeexpressState:
    """A fresh run: the network initialised from ``config.seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = U2Net(config.net)
    net = net.to(device)
    return DeexpressState(config=config, net=net, optimizer=_adam(net, config), run=dict(run or {}))


def _net_tensors(net: U2Net) -> dict[str, torch.Tensor]:
    return {f"{_NET}.{k}": v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _write(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    meta = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION,
            "net_sha256": _digest({k: v for k, v in tensors.items() if k.startswith(_NET + ".")})}
    text = json.dumps(meta, allow_nan=False)
    return atomic_write_bytes(Path(path), serialize(tensors, metadata={META_KEY: text}))


def save_state(state: DeexpressState, path: str | os.PathLike[str], *,
               rng: Sequence[RngSnapshot] = ()) -> Path:
    """Write the whole run to ``path`` atomically (overwriting); returns the path."""
    rng = tuple(rng) or (capture_rng(),)
    tensors = _net_tensors(state.net)
    opt_t, opt_meta = optimizer_tensors(_OPT, state.optimizer)
    tensors.update(opt_t)
    for rank, snap in enumerate(rng):
        tensors.update(snap.tensors(rank))
    names = [n for n, _ in state.net.named_parameters()]
    meta = {"created_by": "gafet deexpress train", "config": config_to_dict(state.config),
            "progress": asdict(state.progress), "run": state.run,
            "optimizer": {**opt_meta, "parameters": names_digest(names)},
            "rng": [snap.scalars() for snap in rng]}
    return _write(path, tensors, meta)


def export_model(state: DeexpressState, path: str | os.PathLike[str]) -> Path:
    """The network alone (config, run facts, no optimiser): what ``--model`` takes."""
    meta = {"created_by": "gafet deexpress train", "config": config_to_dict(state.config),
            "progress": asdict(state.progress), "run": state.run}
    return _write(path, _net_tensors(state.net), meta)


class _Header(NamedTuple):
    path: Path
    meta: dict[str, Any]
    keys: tuple[str, ...]


def read_header(path: str | os.PathLike[str]) -> _Header:
    """The checkpoint's metadata and tensor names (no tensor data). Raises CheckpointError subclasses."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointNotFoundError(f"De-expression model {p} does not exist.")
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
            keys = tuple(f.keys())
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointCorruptError(f"{p} is not a readable safetensors file ({err}).") from None
    if raw is None:
        raise CheckpointFormatError(f"{p} is not a De-expression model (no {META_KEY} metadata); make one "
                                    f"with `gafet deexpress train`.")
    try:
        meta = json.loads(raw)
    except ValueError:
        raise CheckpointCorruptError(f"{p}: unreadable De-expression metadata.") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointFormatError(f"{p} holds De-expression format {meta.get('format_version')!r}; this "
                                    f"version reads {FORMAT_VERSION}.")
    return _Header(p, meta, keys)


def _read(header: _Header, prefixes: Sequence[str]) -> dict[str, torch.Tensor]:
    out = {}
    try:
        with safe_open(str(header.path), framework="pt") as f:
            for k in header.keys:
                if k.split(".", 1)[0] in prefixes:
                    out[k] = f.get_tensor(k)
    except (SafetensorError, OSError) as err:
        raise CheckpointCorruptError(f"{header.path} is damaged ({err}).") from None
    return out


class LoadedModel(NamedTuple):
    """A De-expression network in eval mode, its config and the run facts it was trained with."""

    net: U2Net
    config: DeexpressConfig
    run: dict[str, Any]
    step: int


def _load_net(header: _Header, device: torch.device | str) -> tuple[U2Net, DeexpressConfig, dict[str, Any]]:
    try:
        config = config_from_dict(header.meta["config"])
    except (KeyError, DeexpressConfigError) as err:
        raise CheckpointFormatError(f"{header.path}: unreadable config ({err}).") from None
    tensors = _read(header, (_NET, _OPT, _RNG))
    net_t = {k: v for k, v in tensors.items() if k.startswith(_NET + ".")}
    if _digest(net_t) != header.meta.get("net_sha256"):
        raise CheckpointCorruptError(f"{header.path}: the network's SHA-256 does not match; the file is "
                                     "damaged.")
    net = U2Net(config.net)
    try:
        net.load_state_dict({k[len(_NET) + 1:]: v for k, v in net_t.items()}, strict=True)
    except RuntimeError as err:
        raise CheckpointKeysError(f"{header.path}: the network does not fit its config ({err}).") from None
    return net.to(device), config, tensors


def load_model(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> LoadedModel:
    """The network of a checkpoint or export, in eval mode, frozen. Raises CheckpointError subclasses."""
    header = read_header(path)
    net, config, _ = _load_net(header, device)
    net.eval().requires_grad_(False)
    step = int(header.meta.get("progress", {}).get("step", 0))
    return LoadedModel(net=net, config=config, run=dict(header.meta.get("run", {})), step=step)


class LoadedState(NamedTuple):
    state: DeexpressState
    rng: tuple[RngSnapshot, ...]


def load_state(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> LoadedState:
    """A run written by :func:`save_state`, to continue exactly. RNG states are returned, not applied."""
    header = read_header(path)
    if "optimizer" not in header.meta:
        raise TrainingStateError(f"{header.path} is an exported De-expression model without optimiser state; "
                                 f"it cannot be resumed.")
    net, config, tensors = _load_net(header, device)
    net.train()
    optimizer = _adam(net, config)
    meta = header.meta["optimizer"]
    if meta.get("parameters") != names_digest([n for n, _ in net.named_parameters()]):
        raise TrainingStateError(f"{header.path}: the optimiser state was saved for other parameters.")
    try:
        optimizer.load_state_dict(optimizer_state({k: v for k, v in tensors.items()
                                                    if k.startswith(_OPT + ".")}, meta))
        progress = Progress(**header.meta["progress"])
        snaps = tuple(RngSnapshot.from_stored(r, tensors, s) for r, s in enumerate(header.meta["rng"]))
    except (ValueError, KeyError, RuntimeError, TypeError) as err:
        raise TrainingStateError(f"{header.path}: cannot restore the run ({err}).") from None
    state = DeexpressState(config=config, net=net, optimizer=optimizer, progress=progress,
                           run=dict(header.meta.get("run", {})))
    return LoadedState(state=state, rng=snaps)


def is_deexpress_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a readable De-expression training checkpoint (with optimiser state)."""
    try:
        return "optimizer" in read_header(path).meta
    except CheckpointError:
        return False


class DeexpressCheckpoints(CheckpointFolder):
    """``<run>/checkpoints/step-*.safetensors`` of a De-expression run, newest ``keep`` kept."""

    def latest(self) -> Path | None:
        for _, path in reversed(self.checkpoints()):
            if is_deexpress_checkpoint(path):
                return path
        return None

    def save(self, state: DeexpressState, *, rng: Sequence[RngSnapshot] = ()) -> Path:  # type: ignore[override]
        self.root.mkdir(parents=True, exist_ok=True)
        path = save_state(state, self.path_for(state.progress.step), rng=rng)
        for _, old in self.checkpoints()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path
