"""Everything a training run is, and its one-file save and resume.

A :class:`TrainingState` holds G (the trained generator), G_ema (its exponential moving average:
the exported model), D (global discriminator), D_comp (component discriminator, None when
switched off), the two Adam optimisers (G; D and D_comp together), the :class:`Progress`
counters (step, samples seen, skipped steps, training time, the data sampler's position) and
the run's facts (:attr:`TrainingState.run`: the training config, the perceptual mode, the
neutraliser, the seed, as JSON).

**One checkpoint = one safetensors file**, in the format of :mod:`core.nets.checkpoint`, so the
Studio, ``gafet edit --model`` and ``gafet model info`` open a training checkpoint as they open
any GaFET checkpoint:

* ``generator.*``: **G_ema** (what the editors load); ``discriminator.*``,
  ``component_discriminator.*``: D and D_comp;
* ``training_generator.*``: the live G;
* ``optimizer_g.<index>.<key>``, ``optimizer_d.<index>.<key>``: Adam's per-parameter state
  (``step``, ``exp_avg``, ``exp_avg_sq``; index = the parameter's position in the optimiser);
* ``rng.<rank>.<name>``: every rank's RNG states (torch CPU and CUDA, numpy, Python) as integer
  tensors;
* metadata ``extra``: ``{"created_by": "gafet train", "step": n, "training": {...}}`` with the
  format version, the training config, the progress, the optimisers' hyper-parameters and a digest
  of their parameter names, the RNG scalars and the run facts (``run``: perceptual mode and
  ``perceptual_random``, neutraliser, data). Plain JSON: no pickle anywhere.

Every part has a SHA-256 digest, checked on load. Files are written atomically
(:func:`core.io.atomic.atomic_write_bytes` inside :func:`~core.nets.checkpoint.save_checkpoint`),
as ``<run>/checkpoints/step-<step>.safetensors``, keeping the newest ``keep`` of them
(:class:`CheckpointFolder`); a process killed while writing leaves the previous checkpoints and
at most one hidden ``.part`` file, which the next run removes.

Resuming (:func:`load_state`) restores all of it, so a resumed run continues exactly as the
uninterrupted one would have (``tests/training/test_state_resume.py``).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from core.errors import GafetError
from core.io.atomic import sweep_stale
from core.nets.checkpoint import (
    CheckpointError,
    CheckpointFormatError,
    CheckpointKeysError,
    load_checkpoint,
    read_header,
    read_tensors,
    save_checkpoint,
)
from core.nets.discriminator import ResidualDiscriminator
from core.nets.gafet import GaFET, GafetNetworks, build_networks
from training.config import (
    OptimiserConfig,
    TrainingConfig,
    TrainingConfigError,
    training_config_from_dict,
    training_config_to_dict,
)

__all__ = [
    "STATE_FORMAT_VERSION",
    "CheckpointFolder",
    "LoadedState",
    "Progress",
    "RngSnapshot",
    "TrainingState",
    "TrainingStateError",
    "capture_rng",
    "export_generator",
    "is_training_checkpoint",
    "load_state",
    "new_state",
    "restore_rng",
    "save_state",
    "update_ema",
]

STATE_FORMAT_VERSION = 1
CREATED_BY = "gafet train"
CHECKPOINT_DIRNAME = "checkpoints"
_CHECKPOINT_RE = re.compile(r"^step-(\d{8,})\.safetensors$")
_TRAIN_G = "training_generator"
_OPT_G = "optimizer_g"
_OPT_D = "optimizer_d"
_RNG = "rng"


class TrainingStateError(CheckpointError):
    """A training checkpoint that cannot be resumed (not a training checkpoint, a different format
    version, optimiser state that does not fit the networks). Exit code 5, like other checkpoint errors."""


# ---------------------------------------------------------------------------------------------
# Settings and counters


@dataclass
class Progress:
    """Counters of a run; all survive a resume.

    step: completed training steps (one G update and one D update each; skipped updates count).
    samples: training samples consumed (the global batch times the steps), for the EMA ramp.
    skipped_g, skipped_d: updates skipped because a gradient was not finite.
    elapsed_s: training wall time over all sessions (for the ETA and the logs).
    sampler: the data sampler's position, as the data module's JSON-able state.
    """

    step: int = 0
    samples: int = 0
    skipped_g: int = 0
    skipped_d: int = 0
    elapsed_s: float = 0.0
    sampler: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class TrainingState:
    """Everything a run is (see the module docstring). Networks live on one device."""

    config: TrainingConfig  # holds the network config (config.net)
    generator: GaFET
    generator_ema: GaFET
    discriminator: ResidualDiscriminator
    component_discriminator: ResidualDiscriminator | None
    optimizer_g: torch.optim.Adam
    optimizer_d: torch.optim.Adam
    progress: Progress = field(default_factory=Progress)
    run: dict[str, Any] = field(default_factory=dict)  # JSON-able facts: training config, perceptual, ...

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def discriminators(self) -> tuple[ResidualDiscriminator, ...]:
        """(D,) or (D, D_comp)."""
        return tuple(d for d in (self.discriminator, self.component_discriminator) if d is not None)

    def trained_modules(self) -> dict[str, nn.Module]:
        """The modules the optimisers update, by checkpoint part name (G, D, D_comp)."""
        out: dict[str, nn.Module] = {_TRAIN_G: self.generator, "discriminator": self.discriminator}
        if self.component_discriminator is not None:
            out["component_discriminator"] = self.component_discriminator
        return out

    def exported_networks(self) -> GafetNetworks:
        """G_ema with D and D_comp: what the checkpoint's network parts hold."""
        return GafetNetworks(generator=self.generator_ema, discriminator=self.discriminator,
                             component_discriminator=self.component_discriminator)


def _d_parameters(discriminators: Iterable[nn.Module]) -> list[nn.Parameter]:
    return list(itertools.chain.from_iterable(d.parameters() for d in discriminators))


def _named_g_parameters(state: TrainingState) -> list[str]:
    return [n for n, _ in state.generator.named_parameters()]


def _named_d_parameters(state: TrainingState) -> list[str]:
    names = [f"discriminator.{n}" for n, _ in state.discriminator.named_parameters()]
    if state.component_discriminator is not None:
        names += [f"component_discriminator.{n}" for n, _ in state.component_discriminator.named_parameters()]
    return names


def _adam(params: Iterable[nn.Parameter], o: OptimiserConfig) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=o.lr, betas=(float(o.beta1), float(o.beta2)), eps=o.eps)


def _make_optimizers(config: TrainingConfig, generator: GaFET,
                     discriminators: Sequence[nn.Module]) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G, and one Adam for D and D_comp together. R1 is folded into the D step it is due
    on (one optimiser step), so D needs no lazy-regularisation correction of lr and β."""
    return _adam(generator.parameters(), config.g_optimiser), _adam(_d_parameters(discriminators),
                                                                       config.d_optimiser)


def _frozen_copy(generator: GaFET) -> GaFET:
    ema = copy.deepcopy(generator).eval()
    ema.requires_grad_(False)
    return ema


def new_state(config: TrainingConfig, *, device: torch.device | str = "cpu",
              run: Mapping[str, Any] | None = None) -> TrainingState:
    """A fresh run: networks initialised from ``config.seed`` (equal on every rank), G_ema = G.
    The global RNGs are left as they were."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        nets = build_networks(config.net)
    nets = GafetNetworks(*(m.to(device) if m is not None else None for m in nets))
    discs = [d for d in (nets.discriminator, nets.component_discriminator) if d is not None]
    opt_g, opt_d = _make_optimizers(config, nets.generator, discs)
    return TrainingState(config=config, generator=nets.generator,
                         generator_ema=_frozen_copy(nets.generator), discriminator=nets.discriminator,
                         component_discriminator=nets.component_discriminator, optimizer_g=opt_g,
                         optimizer_d=opt_d, run=dict(run or {}))


# ---------------------------------------------------------------------------------------------
# EMA of G (β from config.ema.beta: StyleGAN2-ADA half-life with ramp-up)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``p_ema ← p + β (p_ema − p)`` for every parameter; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


# ---------------------------------------------------------------------------------------------
# RNG states


@dataclass(frozen=True)
class RngSnapshot:
    """One process's global RNG states: torch CPU and CUDA (uint8 tensors), numpy's legacy
    MT19937 (keys, position, cached Gaussian), Python's ``random`` (625 words, cached Gaussian)."""

    torch_cpu: torch.Tensor
    cuda: tuple[torch.Tensor, ...]
    numpy_keys: np.ndarray  # (624,) uint32
    numpy_pos: int
    numpy_has_gauss: int
    numpy_gauss: float
    python_words: tuple[int, ...]  # 625 ints (624 words + position)
    python_gauss: float | None

    def tensors(self, rank: int) -> dict[str, torch.Tensor]:
        out = {f"{_RNG}.{rank}.torch_cpu": self.torch_cpu.clone(),
               f"{_RNG}.{rank}.numpy_keys": torch.from_numpy(self.numpy_keys.astype(np.int64)),
               f"{_RNG}.{rank}.python_words": torch.tensor(self.python_words, dtype=torch.int64)}
        for i, t in enumerate(self.cuda):
            out[f"{_RNG}.{rank}.cuda_{i}"] = t.clone()
        return out

    def scalars(self) -> dict[str, Any]:
        return {"cuda_devices": len(self.cuda), "numpy_pos": self.numpy_pos,
                "numpy_has_gauss": self.numpy_has_gauss, "numpy_gauss": self.numpy_gauss,
                "python_gauss": self.python_gauss}

    @classmethod
    def from_stored(cls, rank: int, tensors: Mapping[str, torch.Tensor],
                    scalars: Mapping[str, Any]) -> RngSnapshot:
        p = f"{_RNG}.{rank}."
        cuda = tuple(tensors[f"{p}cuda_{i}"] for i in range(int(scalars["cuda_devices"])))
        return cls(torch_cpu=tensors[p + "torch_cpu"].to(torch.uint8), cuda=cuda,
                   numpy_keys=tensors[p + "numpy_keys"].numpy().astype(np.uint32),
                   numpy_pos=int(scalars["numpy_pos"]), numpy_has_gauss=int(scalars["numpy_has_gauss"]),
                   numpy_gauss=float(scalars["numpy_gauss"]),
                   python_words=tuple(int(v) for v in tensors[p + "python_words"].tolist()),
                   python_gauss=None if scalars["python_gauss"] is None else float(scalars["python_gauss"]))


def capture_rng() -> RngSnapshot:
    """This process's global RNG states."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    if kind != "MT19937":
        raise RuntimeError(f"unexpected numpy RNG {kind}")
    version, words, py_gauss = random.getstate()
    if version != 3:
        raise RuntimeError(f"unexpected Python random state version {version}")
    cuda = tuple(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else ()
    return RngSnapshot(torch_cpu=torch.get_rng_state(), cuda=cuda, numpy_keys=np.array(keys, dtype=np.uint32),
                       numpy_pos=int(pos), numpy_has_gauss=int(has_gauss), numpy_gauss=float(gauss),
                       python_words=tuple(int(w) for w in words), python_gauss=py_gauss)


def restore_rng(snapshot: RngSnapshot) -> None:
    """Set this process's global RNG states (CUDA only where the snapshot and the machine both have it)."""
    torch.set_rng_state(snapshot.torch_cpu.cpu())
    if snapshot.cuda and torch.cuda.is_available() and len(snapshot.cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([t.cpu() for t in snapshot.cuda])
    np.random.set_state(("MT19937", snapshot.numpy_keys, snapshot.numpy_pos, snapshot.numpy_has_gauss,
                         snapshot.numpy_gauss))
    random.setstate((3, tuple(snapshot.python_words), snapshot.python_gauss))


# ---------------------------------------------------------------------------------------------
# Optimiser state <-> tensors + JSON


def optimizer_tensors(prefix: str,
                      opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimiser's state as ``<prefix>.<index>.<key>`` tensors plus JSON (hyper-parameters and
    scalars), for a safetensors checkpoint; :func:`optimizer_state` is its inverse."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = []
    for g in sd["param_groups"]:  # hyper-parameters; "params" (consecutive indices) stored as a count
        groups.append({k: (len(v) if k == "params" else list(v) if isinstance(v, tuple) else v)
                       for k, v in g.items()})
    return tensors, {"param_groups": groups, "scalars": scalars}


def names_digest(names: Sequence[str]) -> str:
    """SHA-256 of the optimised parameters' names in order (detects a state saved for other networks)."""
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def optimizer_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_tensors`: a state dict for ``Optimizer.load_state_dict``
    (``tensors`` named ``<prefix>.<index>.<key>``)."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for index, entries in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entries)
    groups, first = [], 0
    for g in meta["param_groups"]:
        count = int(g["params"])
        groups.append({**{k: (tuple(v) if k == "betas" else v) for k, v in g.items()},
                       "params": list(range(first, first + count))})
        first += count
    return {"state": state, "param_groups": groups}


# ---------------------------------------------------------------------------------------------
# Save and load


def save_state(state: TrainingState, path: str | os.PathLike[str], *,
               rng: Sequence[RngSnapshot] = ()) -> Path:
    """Write the whole run to ``path`` atomically (overwriting); returns the path.

    rng: every rank's RNG snapshot, rank order (empty: this process's, as rank 0).
    """
    rng = tuple(rng) or (capture_rng(),)
    extra_tensors: dict[str, torch.Tensor] = {
        f"{_TRAIN_G}.{k}": v.detach().to("cpu", torch.float32).contiguous()
        for k, v in state.generator.state_dict().items()}
    opt_g_t, opt_g_meta = optimizer_tensors(_OPT_G, state.optimizer_g)
    opt_d_t, opt_d_meta = optimizer_tensors(_OPT_D, state.optimizer_d)
    extra_tensors.update(opt_g_t)
    extra_tensors.update(opt_d_t)
    for rank, snap in enumerate(rng):
        extra_tensors.update(snap.tensors(rank))
    training = {
        "format_version": STATE_FORMAT_VERSION,
        "progress": asdict(state.progress),
        "config": training_config_to_dict(state.config),
        "optimizer_g": {**opt_g_meta, "parameters": names_digest(_named_g_parameters(state))},
        "optimizer_d": {**opt_d_meta, "parameters": names_digest(_named_d_parameters(state))},
        "rng": [snap.scalars() for snap in rng],
        "run": state.run,
    }
    extra = {"created_by": CREATED_BY, "step": state.progress.step, "training": training}
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"save_state: the run facts are not plain JSON ({err})") from None
    return save_checkpoint(path, state.exported_networks(), overwrite=True, extra=extra,
                           extra_tensors=extra_tensors)


def export_generator(state: TrainingState, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Write G_ema alone (a small inference checkpoint for the Studio's models folder)."""
    extra = {"created_by": CREATED_BY, "step": state.progress.step, "exported_from": "G_ema",
             "run": state.run}
    return save_checkpoint(path, state.generator_ema, overwrite=overwrite, extra=extra)


def is_training_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a readable GaFET checkpoint holding a resumable training state."""
    try:
        return isinstance(read_header(path).extra.get("training"), dict)
    except CheckpointError:
        return False


class LoadedState(NamedTuple):
    """A resumed run and the RNG snapshots of the ranks that saved it (rank order)."""

    state: TrainingState
    rng: tuple[RngSnapshot, ...]


def load_state(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> LoadedState:
    """Read a checkpoint written by :func:`save_state` (digests checked). RNG states are returned,
    not applied: each rank restores its own (:func:`restore_rng`).

    Raises :class:`core.nets.checkpoint.CheckpointError` subclasses (missing, damaged, wrong
    format) and :class:`TrainingStateError` (not a training checkpoint, or one that does not fit).
    """
    header = read_header(path)
    training = header.extra.get("training")
    if not isinstance(training, dict):
        raise TrainingStateError(f"{header.path} is a GaFET model but not a training checkpoint (it holds no "
                                 f"optimiser state); start a new run instead of resuming from it.")
    version = training.get("format_version")
    if version != STATE_FORMAT_VERSION:
        raise TrainingStateError(f"{header.path} holds training state format {version!r}; this version "
                                 f"resumes format {STATE_FORMAT_VERSION}.")
    try:
        config = training_config_from_dict(training["config"])
        progress = Progress(**training["progress"])
        rng_scalars = list(training["rng"])
        run = dict(training.get("run", {}))
        opt_meta = {_OPT_G: training[_OPT_G], _OPT_D: training[_OPT_D]}
    except (KeyError, TypeError) as err:
        raise CheckpointFormatError(f"{header.path} has incomplete training metadata ({err}).") from None
    except TrainingConfigError as err:
        raise CheckpointFormatError(f"{header.path} holds an unreadable training config: {err}") from None
    if config.net != header.config:
        raise TrainingStateError(f"{header.path}: the stored training config's network differs from the "
                                 f"stored model config.")
    loaded = load_checkpoint(header.path, discriminators=True, device=device)
    stored = read_tensors(header.path, (_TRAIN_G, _OPT_G, _OPT_D, _RNG))
    generator = _frozen_copy(loaded.generator).train()  # same structure; weights replaced below
    generator.requires_grad_(True)
    g_state = {k[len(_TRAIN_G) + 1:]: v for k, v in stored.items() if k.startswith(_TRAIN_G + ".")}
    try:
        generator.load_state_dict(g_state, strict=True)
    except RuntimeError as err:
        raise CheckpointKeysError(f"{header.path}: the training generator does not fit its config ({err}).") \
            from None
    generator_ema = loaded.generator.eval()
    generator_ema.requires_grad_(False)
    assert loaded.discriminator is not None
    generator = generator.to(device)
    discs = [d for d in (loaded.discriminator, loaded.component_discriminator) if d is not None]
    opt_g, opt_d = _make_optimizers(config, generator, discs)
    state = TrainingState(config=config, generator=generator,
                          generator_ema=generator_ema, discriminator=loaded.discriminator,
                          component_discriminator=loaded.component_discriminator, optimizer_g=opt_g,
                          optimizer_d=opt_d, progress=progress, run=run)
    expected = {_OPT_G: _named_g_parameters(state),
                _OPT_D: _named_d_parameters(state)}
    for prefix, opt in ((_OPT_G, state.optimizer_g), (_OPT_D, state.optimizer_d)):
        meta = opt_meta[prefix]
        if meta.get("parameters") != names_digest(expected[prefix]):
            raise TrainingStateError(f"{header.path}: the {prefix.replace('_', ' ')} state was saved for "
                                     f"other parameters than the stored networks have.")
        tensors = {k: v for k, v in stored.items() if k.startswith(prefix + ".")}
        try:
            opt.load_state_dict(optimizer_state(tensors, meta))
        except (ValueError, KeyError, RuntimeError) as err:
            raise TrainingStateError(f"{header.path}: cannot restore the {prefix.replace('_', ' ')} "
                                     f"({err}).") from None
    snapshots = tuple(RngSnapshot.from_stored(rank, stored, s) for rank, s in enumerate(rng_scalars))
    return LoadedState(state=state, rng=snapshots)


# ---------------------------------------------------------------------------------------------
# The run's checkpoint folder


class CheckpointFolder:
    """``<run>/checkpoints/step-<step, 8+ digits>.safetensors``, newest ``keep`` kept."""

    def __init__(self, run_dir: str | os.PathLike[str], *, keep: int = 3) -> None:
        if keep < 1:
            raise GafetError(f"Keep at least one checkpoint (got keep={keep}).")
        self.root = Path(run_dir) / CHECKPOINT_DIRNAME
        self.keep = keep

    def path_for(self, step: int) -> Path:
        return self.root / f"step-{step:08d}.safetensors"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of every checkpoint file, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for p in self.root.iterdir():
            m = _CHECKPOINT_RE.match(p.name)
            if m and p.is_file():
                found.append((int(m.group(1)), p))
        return sorted(found)

    def latest(self) -> Path | None:
        """The newest checkpoint that is a readable training state (header checked; older ones are
        tried when the newest is damaged), or None."""
        for _, path in reversed(self.checkpoints()):
            if is_training_checkpoint(path):
                return path
        return None

    def save(self, state: TrainingState, *, rng: Sequence[RngSnapshot] = ()) -> Path:
        """Write the state for its step, then remove all but the newest ``keep`` checkpoints."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = save_state(state, self.path_for(state.progress.step), rng=rng)
        for _, old in self.checkpoints()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

    def remove_partial_writes(self) -> list[Path]:
        """Delete the hidden temporary files a killed writer left behind (those of a writer process that
        is gone: :func:`core.io.atomic.sweep_stale`); returns them."""
        if not self.root.is_dir():
            return []
        return sweep_stale(self.root)
