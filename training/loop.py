"""The training loop: a generator of typed events. It never prints; sinks (:mod:`training.reporting`)
turn the events into logs, TensorBoard files and a progress bar.

One **step** (paper §3.5; StyleGAN2's schedule, notes/training.md §1.7):

1. the data (:class:`TrainingData`, e.g. :class:`training.feed.CacheFeed`) gives this rank's
   ``config.accumulation`` micro-batches of the step's global batch (pseudo-pairs (X_n, X) or
   unpaired (X_n, Y): ``config.is_paired_step``; sharded by :func:`training.distributed.shard_batch`);
2. **G phase**: for each micro-batch the objective (:class:`Objective`, the only place loss weights
   apply) gives the loss terms; their weighted total / accumulation is back-propagated into G
   (the discriminators are frozen);
3. **D phase**: the discriminators' loss on the same micro-batches, with the G phase's outputs
   (detached) as fakes, plus R1 on both discriminators on the steps it is due (lazy R1,
   ``config.r1_due``; R1 is folded into that step's D loss, one optimiser step);
4. in each phase, gradients are averaged over ranks; if any is NaN or infinite the update is
   **skipped** (weights and Adam state untouched) and counted;
5. G_ema ← lerp(G, G_ema, β) with β from ``config.ema``.

Every micro-batch seeds the global RNGs from (seed, step, phase, micro-batch index), so a run is
reproducible, a resumed run continues exactly as the uninterrupted one, and N ranks compute what
one process accumulating N times as many micro-batches computes.

Precision belongs to the objective: with ``config.precision`` "auto" it runs the networks under bf16
autocast on CUDA and in float32 on the CPU, and keeps R1, the contextual loss and the fits in
float32; the loop only guards the gradients. D sees the G phase's own outputs as fakes (one G
forward per step; the fakes are from G before its update, as in pix2pix-style trainers).

Multi-process: no DDP wrapper; :mod:`training.distributed` averages the gradients with one flat
all-reduce per phase (R1's double backward and "unused parameters" never meet DDP), and rank 0
alone writes, after checking that every rank holds the same weights.

Stopping: after ``LoopSettings.max_steps`` steps in total, after ``max_minutes`` of this session,
or when :class:`StopFlag` is set (the CLI sets it on SIGTERM/SIGINT); in each case a checkpoint is
written and :class:`Stopped` is the last event. A rank's stop request is agreed on by all ranks.

Events, in order: :class:`RunStarted`; per step :class:`StepDone`; now and then
:class:`CheckpointSaved`, :class:`EvaluationDone`, :class:`PreviewRendered`; finally
:class:`Stopped`. On ranks other than 0 the loop yields the same events but writes nothing.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import torch
from torch import nn

from core.errors import GafetError
from core.nets.gafet import GaFET, GafetNetworks
from training.distributed import (
    DistContext,
    any_rank,
    average_gradients,
    broadcast_modules,
    check_equal_weights,
    gather_objects,
    mean_over_ranks,
)
from training.state import (
    CheckpointFolder,
    TrainingState,
    capture_rng,
    export_generator,
    update_ema,
)

__all__ = [
    "CheckpointSaved",
    "EvaluationDone",
    "Event",
    "LoopSettings",
    "PreviewRendered",
    "RunStarted",
    "StepDone",
    "StopFlag",
    "StopReason",
    "Stopped",
    "micro_seed",
    "train",
]

StopReason = Literal["max_steps", "time_budget", "signal"]
EXPORT_NAME = "generator.safetensors"  # G_ema alone, rewritten with every checkpoint


class LoopError(GafetError):
    """Loop settings that cannot work."""


@dataclass(frozen=True)
class LoopSettings:
    """How long to run and how often to save, evaluate and log (not part of the checkpoint).

    max_steps: stop once this many steps are done in total (resumed steps count); None: no limit.
    max_minutes: stop after this much wall time in this session; None: no limit.
    checkpoint_every: steps between checkpoints; checkpoint_minutes: also save when this much
    time passed since the last save (None: only by steps). A final checkpoint is always written.
    keep_checkpoints: how many of the newest checkpoints stay on disk.
    export_generator: also write ``<run>/generator.safetensors`` (G_ema alone) at every save.
    eval_every / preview_every: steps between evaluations / preview grids (None: never).
    """

    max_steps: int | None = None
    max_minutes: float | None = None
    checkpoint_every: int = 1000
    checkpoint_minutes: float | None = 30.0
    keep_checkpoints: int = 3
    export_generator: bool = True
    eval_every: int | None = None
    preview_every: int | None = None

    def __post_init__(self) -> None:
        if self.max_steps is not None and self.max_steps < 0:
            raise LoopError(f"--max-steps must be >= 0, got {self.max_steps}.")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise LoopError(f"--max-minutes must be > 0, got {self.max_minutes}.")
        if self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise LoopError("checkpoint_every and keep_checkpoints must be >= 1.")
        for name in ("eval_every", "preview_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise LoopError(f"{name} must be >= 1 (or None), got {value}.")


class StopFlag:
    """A stop request from outside the loop (a signal handler, a UI); thread- and signal-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: StopReason | None = None

    def request(self, reason: StopReason = "signal") -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()


# ---------------------------------------------------------------------------------------------
# What the loop needs from the data and the objective


class LossResult(Protocol):
    """One phase's losses on one micro-batch (``training.objective.GeneratorResult`` /
    ``DiscriminatorResult``)."""

    @property
    def total(self) -> torch.Tensor:
        """0-d float32 with the graph: the weighted sum that is back-propagated."""
        ...

    def named(self) -> dict[str, torch.Tensor]:
        """Every computed term by name (detached 0-d tensors), ``total`` included."""
        ...


class GeneratorResult(LossResult, Protocol):
    @property
    def output(self) -> torch.Tensor:
        """X̂ (B, 3, R, R) float32, detached: the D phase's fakes."""
        ...


class Objective(Protocol):
    """The losses (:class:`training.objective.GafetObjective`): the only place their weights apply,
    and the owner of precision (bf16 autocast inside on CUDA; R1, L_cx and the fits in float32)."""

    @property
    def trains_discriminators(self) -> bool: ...

    def uses_bf16(self, device: torch.device) -> bool: ...

    def generator_loss(self, nets: GafetNetworks, batch: Any) -> GeneratorResult: ...  # noqa: ANN401

    def discriminator_loss(self, nets: GafetNetworks, batch: Any, fake: torch.Tensor, *,  # noqa: ANN401
                           r1: bool) -> LossResult:
        """Both discriminators' losses, with R1 (γ/2·k, float32) folded in when ``r1``."""
        ...


class StepData(NamedTuple):
    """This rank's micro-batches of one step (``accumulation`` of them, objective batches on the
    training device) and the step's kind."""

    step: int
    paired: bool
    micro_batches: Sequence[Any]


class TrainingData(Protocol):
    """The data (:class:`training.feed.CacheFeed` for a face cache)."""

    def steps(self, start: int) -> Iterator[StepData]:
        """Steps ``start``, ``start + 1``, ... (endless). Step k's data must not depend on anything
        but k (and the run's seed), so a resumed run sees what the uninterrupted one saw."""
        ...


class Evaluation(NamedTuple):
    """Metrics by name (e.g. ``l1``, ``ssim``, ``aed``; NaN for one that could not be computed)."""

    metrics: dict[str, float]
    samples: int


class Evaluator(Protocol):
    """A fixed held-out set; both calls use G_ema and must not change any RNG state."""

    def evaluate(self, generator: GaFET) -> Evaluation: ...

    def preview(self, generator: GaFET) -> torch.Tensor:
        """(3, H, W) uint8 grid: rows of source | reference | geometry | output."""
        ...


# ---------------------------------------------------------------------------------------------
# Events


class RunStarted(NamedTuple):
    step: int  # steps already done (0 for a new run)
    resumed_from: Path | None
    config_name: str
    batch: int
    world_size: int
    device: str
    precision: str  # "bfloat16" or "float32"
    perceptual: str
    max_steps: int | None
    max_minutes: float | None


class StepDone(NamedTuple):
    """One finished step. ``generator``/``discriminator``: every computed loss term by name
    (``g/<term>``, ``d/<term>``, ``total`` included; ``d/r1_*`` on the steps R1 runs), the mean over
    micro-batches and ranks; empty for a phase that did not run."""

    step: int  # steps done, this one included
    samples: int  # training samples consumed in total
    batch: int  # global batch of this step
    paired: bool
    generator: dict[str, float]
    discriminator: dict[str, float]
    r1: bool
    skipped_g: bool
    skipped_d: bool
    skipped_total: int  # skipped updates over the whole run (G and D)
    ema_beta: float
    seconds: float  # this step's wall time
    elapsed_s: float  # training time over all sessions


class CheckpointSaved(NamedTuple):
    step: int
    path: Path
    exported: Path | None


class EvaluationDone(NamedTuple):
    step: int
    metrics: dict[str, float]
    samples: int
    seconds: float


class PreviewRendered(NamedTuple):
    step: int
    grid: torch.Tensor  # (3, H, W) uint8


class Stopped(NamedTuple):
    step: int
    reason: StopReason
    checkpoint: Path | None


Event = RunStarted | StepDone | CheckpointSaved | EvaluationDone | PreviewRendered | Stopped


# ---------------------------------------------------------------------------------------------
# Helpers


def micro_seed(seed: int, step: int, phase: str, index: int) -> int:
    """The seed of micro-batch ``index`` (global: rank · accumulation + round) of ``phase`` at ``step``."""
    digest = hashlib.sha256(f"{seed}:{step}:{phase}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)  # also seeds every CUDA device


def _params(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters()]


def _grads_finite(params: Sequence[nn.Parameter]) -> bool:
    flags = [torch.isfinite(p.grad).all() for p in params if p.grad is not None]
    return bool(torch.stack(flags).all().item()) if flags else True


def _floats(prefix: str, named: dict[str, torch.Tensor]) -> dict[str, float]:
    """``{"<prefix>/<term>": value}`` with one device sync."""
    names = list(named)
    if not names:
        return {}
    values = torch.stack([named[n].detach().float().reshape(()) for n in names]).tolist()
    return {f"{prefix}/{n}": v for n, v in zip(names, values, strict=True)}


def _mean_terms(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    """The mean of each term over the micro-batches (every micro-batch of a step has the same terms)."""
    if not parts:
        return {}
    return {name: sum(p[name] for p in parts) / len(parts) for name in sorted(parts[0])}


# ---------------------------------------------------------------------------------------------
# The loop


def train(state: TrainingState, data: TrainingData, objective: Objective, *, ctx: DistContext,
          run_dir: str | Path, settings: LoopSettings, stop: StopFlag | None = None,
          evaluator: Evaluator | None = None, resumed_from: Path | None = None,
          clock: Callable[[], float] = time.monotonic) -> Iterator[Event]:
    """Train ``state`` in place, yielding events (module docstring). Rank 0 writes checkpoints
    to ``<run_dir>/checkpoints``. resumed_from: the checkpoint ``state`` was loaded from (not
    written again when no step is run). clock: seconds, for the time budget (tests replace it)."""
    monotonic = clock
    config = state.config
    device = ctx.device
    stop = stop or StopFlag()
    run_dir = Path(run_dir)
    folder = CheckpointFolder(run_dir, keep=settings.keep_checkpoints)
    bf16 = objective.uses_bf16(device)
    config.micro_batch(ctx.world_size)  # raises when the batch does not split over the ranks
    g_params = _params([state.generator])
    d_params = _params(state.discriminators())
    trained = [state.generator, *state.discriminators()]
    broadcast_modules(ctx, [*trained, state.generator_ema])

    session_start = monotonic()
    elapsed_before = state.progress.elapsed_s
    last_save = session_start
    last_path: Path | None = resumed_from
    saved_step: int | None = state.progress.step if resumed_from is not None else None

    def elapsed() -> float:
        return elapsed_before + (monotonic() - session_start)

    def save() -> CheckpointSaved:
        nonlocal last_save, last_path, saved_step
        state.progress.elapsed_s = elapsed()
        check_equal_weights(ctx, [*trained, state.generator_ema])
        rng = gather_objects(ctx, capture_rng())
        path = folder.path_for(state.progress.step)
        exported = None
        if ctx.is_main:
            path = folder.save(state, rng=rng)
            if settings.export_generator:
                exported = export_generator(state, run_dir / EXPORT_NAME)
        ctx.barrier()
        last_save = monotonic()
        last_path, saved_step = path, state.progress.step
        return CheckpointSaved(step=state.progress.step, path=path, exported=exported)

    if ctx.is_main:
        folder.remove_partial_writes()
    yield RunStarted(step=state.progress.step, resumed_from=resumed_from, config_name=config.name,
                     batch=config.batch, world_size=ctx.world_size, device=str(device),
                     precision="bfloat16" if bf16 else "float32", perceptual=config.perceptual,
                     max_steps=settings.max_steps, max_minutes=settings.max_minutes)

    reason: StopReason | None = None
    if settings.max_steps is not None and state.progress.step >= settings.max_steps:
        reason = "max_steps"
    nets = GafetNetworks(generator=state.generator, discriminator=state.discriminator,
                         component_discriminator=state.component_discriminator)
    stream = data.steps(state.progress.step) if reason is None else iter(())
    while reason is None:
        t0 = monotonic()
        step = state.progress.step
        step_data = next(stream)
        if step_data.step != step:
            raise LoopError(f"the data yielded step {step_data.step} where step {step} was due")
        micro_batches = list(step_data.micro_batches)
        paired = step_data.paired
        rounds = len(micro_batches)
        if rounds != config.accumulation:
            raise LoopError(f"step {step}: {rounds} micro-batches, but accumulation is {config.accumulation}")
        first_index = ctx.rank * config.accumulation

        # -- G phase ------------------------------------------------------------------------------
        state.generator.requires_grad_(True)
        for d in state.discriminators():
            d.requires_grad_(False)
        state.optimizer_g.zero_grad(set_to_none=True)
        fakes: list[torch.Tensor] = []
        g_parts: list[dict[str, float]] = []
        for i, batch in enumerate(micro_batches):
            _seed_all(micro_seed(config.seed, step, "G", first_index + i))
            g = objective.generator_loss(nets, batch)
            (g.total / rounds).backward()
            fakes.append(g.output.detach())
            g_parts.append(_floats("g", g.named()))
        average_gradients(ctx, g_params)
        skipped_g = not _grads_finite(g_params)
        if skipped_g:
            state.progress.skipped_g += 1
        else:
            state.optimizer_g.step()
        state.optimizer_g.zero_grad(set_to_none=True)

        # -- D phase (R1 folded into the step it is due on) ---------------------------------------
        d_parts: list[dict[str, float]] = []
        skipped_d = False
        r1 = False
        if objective.trains_discriminators and d_params:
            r1 = config.r1_due(step)
            state.generator.requires_grad_(False)
            for d in state.discriminators():
                d.requires_grad_(True)
            state.optimizer_d.zero_grad(set_to_none=True)
            for i, (batch, fake) in enumerate(zip(micro_batches, fakes, strict=True)):
                _seed_all(micro_seed(config.seed, step, "D", first_index + i))
                d = objective.discriminator_loss(nets, batch, fake, r1=r1)
                (d.total / rounds).backward()
                d_parts.append(_floats("d", d.named()))
            average_gradients(ctx, d_params)
            skipped_d = not _grads_finite(d_params)
            if skipped_d:
                state.progress.skipped_d += 1
            else:
                state.optimizer_d.step()
            state.optimizer_d.zero_grad(set_to_none=True)
            state.generator.requires_grad_(True)
        del micro_batches, fakes, step_data

        # -- EMA, counters ------------------------------------------------------------------------
        beta = config.ema.beta(batch=config.batch, images_seen=state.progress.samples)
        update_ema(state.generator_ema, state.generator, beta)
        state.progress.step += 1
        state.progress.samples += config.batch
        state.progress.sampler = {"next_step": state.progress.step}

        g_terms = mean_over_ranks(ctx, _mean_terms(g_parts))
        d_terms = mean_over_ranks(ctx, _mean_terms(d_parts))
        step_done = state.progress.step
        yield StepDone(step=step_done, samples=state.progress.samples, batch=config.batch, paired=paired,
                       generator=g_terms,
                       discriminator=d_terms, r1=r1, skipped_g=skipped_g, skipped_d=skipped_d,
                       skipped_total=state.progress.skipped_g + state.progress.skipped_d,
                       ema_beta=beta, seconds=monotonic() - t0, elapsed_s=elapsed())

        # -- evaluation and previews (rank 0; the others wait) --------------------------------------
        if settings.eval_every and step_done % settings.eval_every == 0:  # the same test on every rank
            if ctx.is_main and evaluator is not None:
                t_eval = monotonic()
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    evaluation = evaluator.evaluate(state.generator_ema)
                yield EvaluationDone(step=step_done, metrics=evaluation.metrics, samples=evaluation.samples,
                                     seconds=monotonic() - t_eval)
            ctx.barrier()
        if settings.preview_every and step_done % settings.preview_every == 0:
            if ctx.is_main and evaluator is not None:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    grid = evaluator.preview(state.generator_ema)
                yield PreviewRendered(step=step_done, grid=grid)
            ctx.barrier()

        # -- stop / save decisions, agreed by all ranks -------------------------------------------
        now = monotonic()
        time_up = settings.max_minutes is not None and now - session_start >= settings.max_minutes * 60.0
        steps_up = settings.max_steps is not None and step_done >= settings.max_steps
        signalled = any_rank(ctx, stop.requested)
        time_up = any_rank(ctx, time_up)
        if steps_up:
            reason = "max_steps"
        elif signalled:
            reason = "signal"
        elif time_up:
            reason = "time_budget"
        due = step_done % settings.checkpoint_every == 0
        due = due or (settings.checkpoint_minutes is not None
                      and now - last_save >= settings.checkpoint_minutes * 60.0)
        if reason is None and any_rank(ctx, due):
            yield save()

    if saved_step != state.progress.step:
        yield save()
    yield Stopped(step=state.progress.step, reason=reason, checkpoint=last_path)
