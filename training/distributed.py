"""Many processes, one run: torchrun or ``gafet train --gpus N``, NCCL on CUDA and gloo on the CPU.

One process per device (rank). Every rank builds the same networks from the same seed, and they
stay equal because every rank applies the same averaged gradients:

* **no DistributedDataParallel wrapper** (NVlabs' StyleGAN2-ADA/3 pattern): after each phase's
  backward passes, :func:`average_gradients` concatenates all gradients into one flat buffer,
  ``all_reduce``\\ s it and divides by the world size. This sidesteps DDP's known problems with
  GAN training (notes/training.md §1.5): R1's double backward, which DDP's reducer does not
  support (pytorch #47562, #63812; ``backward(create_graph=True)`` leaks under DDP, #48531),
  and the "unused parameters" errors when G and D phases leave parts of a wrapped module out
  of the graph (Lightning #20034, #20328, #20866). R1 is an ordinary
  ``autograd.grad(create_graph=True)`` on the bare D, and every parameter is reduced whether or
  not it was used (unused ones contribute zeros).
* the data is sharded like ``DistributedSampler``: each step's global batch is cut into
  ``world size x accumulation`` micro-batches, rank r taking micro-batches r·a ... r·a + a − 1
  (:func:`shard_batch`). So N ranks compute exactly what one process accumulating N·a
  micro-batches computes (``tests/training/test_distributed.py`` checks the weights agree).
* rank 0 alone writes checkpoints, logs and TensorBoard files; before each save every rank's
  weights are compared through a float64 checksum (:func:`check_equal_weights`), which fails
  loudly instead of saving a run whose ranks have drifted apart.
* stop requests (a signal on any rank, or rank 0's time budget) are agreed on with one small
  ``all_reduce`` per step (:func:`any_rank`), so all ranks stop after the same step.

Launch: ``torchrun --nproc_per_node N -m training ...`` sets ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` (several nodes work the same way: that is
torchrun's job); ``gafet train --gpus N`` starts N processes itself (:func:`spawn`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from core.errors import GafetError

__all__ = [
    "DistContext",
    "DistributedError",
    "any_rank",
    "average_gradients",
    "broadcast_modules",
    "check_equal_weights",
    "gather_objects",
    "init_distributed",
    "local_context",
    "mean_over_ranks",
    "shard_batch",
    "shutdown",
    "spawn",
    "weights_checksum",
]

_T = TypeVar("_T")


class DistributedError(GafetError):
    """A multi-process run that cannot start or has gone wrong (ranks disagree, no GPUs for --gpus)."""


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank of world_size, its device and the process-group backend
    (None for a single process without a process group)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None and self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def _default_device(local_rank: int, device: str | None) -> torch.device:
    if device is not None:
        dev = torch.device(device)
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise DistributedError(f"Device {device}: no CUDA device is available here; use the CPU.")
            if dev.index is None:
                dev = torch.device("cuda", local_rank)
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def local_context(device: str | None = None) -> DistContext:
    """A single process (rank 0 of 1): CUDA when available (or ``device``), else the CPU."""
    return DistContext(rank=0, world_size=1, local_rank=0, device=_default_device(0, device), backend=None)


def init_distributed(device: str | None = None) -> DistContext:
    """Join the process group torchrun (or :func:`spawn`) described in the environment
    (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); without those
    variables, a single process (:func:`local_context`). NCCL on CUDA, gloo on the CPU.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return local_context(device)
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise DistributedError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them).") \
            from None
    dev = _default_device(local_rank, device)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DistributedError(f"Rank {rank} wants cuda:{local_rank}, but this machine has "
                                   f"{torch.cuda.device_count()} CUDA device(s).")
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if world > 1 and not dist.is_initialized():
        kwargs: dict[str, Any] = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world, init_method="env://", **kwargs)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev,
                       backend=backend if world > 1 else None)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (no-op for a single process)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a local rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawned(local_rank: int, world: int, port: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    os.environ.update({"RANK": str(local_rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(local_rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    fn(*args)


def spawn(nprocs: int, fn: Callable[..., Any], args: tuple[Any, ...] = (), *,
          start_method: str = "spawn") -> None:
    """Run ``fn(*args)`` in ``nprocs`` new processes on this machine, each with torchrun's
    environment variables set (so ``fn`` calls :func:`init_distributed` as under torchrun).
    ``fn`` must be importable (a module-level function). Raises if a process fails.
    start_method: "spawn" (fresh interpreters; required with CUDA) or "fork" (CPU only: no import
    cost per process)."""
    if nprocs < 1:
        raise DistributedError(f"Need at least one process, got {nprocs}.")
    import torch.multiprocessing as mp

    mp.start_processes(_spawned, args=(nprocs, free_port(), fn, args), nprocs=nprocs, join=True,
                       start_method=start_method)


# ---------------------------------------------------------------------------------------------
# Collectives used by the loop


def broadcast_modules(ctx: DistContext, modules: Iterable[nn.Module]) -> None:
    """Copy rank 0's parameters and buffers to every rank (once, at the start)."""
    if not ctx.distributed:
        return
    with torch.no_grad():
        for m in modules:
            for t in [*m.parameters(), *m.buffers()]:
                dist.broadcast(t.data, src=0)


def average_gradients(ctx: DistContext, params: Sequence[torch.Tensor]) -> None:
    """Average the gradients of ``params`` over all ranks with one flat ``all_reduce``.

    Parameters without a gradient count as zero (and get one), so every rank reduces the same
    buffer. No-op for a single process.
    """
    if not ctx.distributed or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def any_rank(ctx: DistContext, flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(ctx: DistContext, values: dict[str, float]) -> dict[str, float]:
    """The mean of each named value over the ranks (every rank must pass the same names)."""
    if not ctx.distributed or not values:
        return dict(values)
    names = sorted(values)
    t = torch.tensor([float(values[n]) for n in names], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    t /= ctx.world_size
    return dict(zip(names, t.tolist(), strict=True))


def gather_objects(ctx: DistContext, obj: _T) -> list[_T]:
    """Every rank's ``obj`` in rank order, on every rank (small objects only: RNG states)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def weights_checksum(modules: Iterable[nn.Module]) -> torch.Tensor:
    """(2,) float64: the sum of all parameters and their sum weighted by position, so a change in
    any one element, or two elements swapped, changes it."""
    total = torch.zeros((), dtype=torch.float64)
    weighted = torch.zeros((), dtype=torch.float64)
    k = 1
    for m in modules:
        for p in m.parameters():
            v = p.detach().double().reshape(-1).cpu()
            idx = torch.arange(k, k + v.numel(), dtype=torch.float64)
            total += v.sum()
            weighted += (v * torch.sin(idx)).sum()
            k += v.numel()
    return torch.stack([total, weighted])


def check_equal_weights(ctx: DistContext, modules: Sequence[nn.Module], what: str = "weights") -> None:
    """Raise :class:`DistributedError` on every rank unless all ranks hold bitwise-equal checksums."""
    if not ctx.distributed:
        return
    local = weights_checksum(modules).to(ctx.device)
    gathered = [torch.zeros_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, local)
    ref = gathered[0]
    bad = [r for r, t in enumerate(gathered) if not torch.equal(t, ref)]
    if bad:
        raise DistributedError(f"The ranks' {what} have drifted apart (ranks {bad} differ from rank 0); "
                               f"the run was stopped before saving. This is a bug: please report it.")


# ---------------------------------------------------------------------------------------------
# Data sharding


def shard_batch(items: Sequence[_T], *, rank: int, world_size: int, accumulation: int) -> list[list[_T]]:
    """This rank's micro-batches of one global batch ``items``.

    The batch is cut into ``world_size * accumulation`` equal micro-batches in order; rank r gets
    micro-batches ``r * accumulation`` ... ``(r + 1) * accumulation - 1``. With one rank and
    accumulation N·a this yields the same micro-batches, in the same order, as N ranks with
    accumulation a yield together.
    """
    parts = world_size * accumulation
    if parts < 1 or len(items) % parts:
        raise DistributedError(f"A batch of {len(items)} does not split into {world_size} rank(s) x "
                               f"{accumulation} accumulation rounds.")
    size = len(items) // parts
    first = rank * accumulation
    return [list(items[(first + i) * size:(first + i + 1) * size]) for i in range(accumulation)]
