"""The De-expression training loop: the training module's events, settings, stop flag, seeding,
gradient averaging and checkpoint folder, with one network and one loss.

One step: this rank's slice of the step's batch (:class:`training.deexpress.pairs.PairFeed`,
augmented), the objective's loss (:class:`training.deexpress.objective.DeexpressObjective`),
backward, gradients averaged over ranks (:func:`training.distributed.average_gradients`), the
update skipped and counted when a gradient is not finite, Adam step. The global RNGs are seeded
from (seed, step, rank) (:func:`training.loop.micro_seed`), so a resumed run continues as the
uninterrupted one would have.

It yields :mod:`training.loop`'s events (:class:`RunStarted`, :class:`StepDone` with the loss
terms as ``g/<term>``, :class:`CheckpointSaved`, :class:`Stopped`), so the reporting sinks
(``metrics.jsonl``, TensorBoard, the progress bar) work unchanged. Stopping (max steps, time
budget, :class:`StopFlag`) and checkpointing (every N steps or M minutes, and always at the end)
follow :class:`training.loop.LoopSettings`; rank 0 writes ``<run>/checkpoints/step-*.safetensors``
and ``<run>/deexpress.safetensors`` (the network alone).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from training.deexpress.objective import DeexpressObjective
from training.deexpress.pairs import PairFeed
from training.deexpress.state import EXPORT_NAME, DeexpressCheckpoints, DeexpressState, export_model
from training.distributed import (
    DistContext,
    any_rank,
    average_gradients,
    broadcast_modules,
    gather_objects,
    local_context,
    mean_over_ranks,
)
from training.loop import (
    CheckpointSaved,
    Event,
    LoopSettings,
    RunStarted,
    StepDone,
    StopFlag,
    Stopped,
    StopReason,
    micro_seed,
)
from training.state import capture_rng

__all__ = ["train"]


def train(state: DeexpressState, feed: PairFeed, objective: DeexpressObjective, *, run_dir: str | Path,
          settings: LoopSettings, stop: StopFlag | None = None, ctx: DistContext | None = None,
          resumed_from: Path | None = None, clock: Callable[[], float] = time.monotonic) -> Iterator[Event]:
    """Train ``state`` in place, yielding events (module docstring)."""
    ctx = ctx or local_context(str(state.device))
    stop = stop or StopFlag()
    run_dir = Path(run_dir)
    folder = DeexpressCheckpoints(run_dir, keep=settings.keep_checkpoints)
    params = list(state.net.parameters())
    broadcast_modules(ctx, [state.net])
    session_start = clock()
    elapsed_before = state.progress.elapsed_s
    last_save = session_start
    last_path = resumed_from
    saved_step = state.progress.step if resumed_from is not None else None

    def elapsed() -> float:
        return elapsed_before + (clock() - session_start)

    def save() -> CheckpointSaved:
        nonlocal last_save, last_path, saved_step
        state.progress.elapsed_s = elapsed()
        rng = gather_objects(ctx, capture_rng())
        path = folder.path_for(state.progress.step)
        exported = None
        if ctx.is_main:
            path = folder.save(state, rng=rng)
            if settings.export_generator:
                exported = export_model(state, run_dir / EXPORT_NAME)
        ctx.barrier()
        last_save, last_path, saved_step = clock(), path, state.progress.step
        return CheckpointSaved(step=state.progress.step, path=path, exported=exported)

    if ctx.is_main:
        folder.remove_partial_writes()
    yield RunStarted(step=state.progress.step, resumed_from=resumed_from, config_name=state.config.name,
                     batch=state.config.batch, world_size=ctx.world_size, device=str(ctx.device),
                     precision="float32", perceptual=str(objective.metadata()["perceptual"]),
                     max_steps=settings.max_steps, max_minutes=settings.max_minutes)
    reason: StopReason | None = None
    if settings.max_steps is not None and state.progress.step >= settings.max_steps:
        reason = "max_steps"
    stream = feed.steps(state.progress.step) if reason is None else iter(())
    state.net.train()
    while reason is None:
        t0 = clock()
        step = state.progress.step
        data = next(stream)
        torch.manual_seed(micro_seed(state.config.seed, step, "U2", ctx.rank))
        state.optimizer.zero_grad(set_to_none=True)
        result = objective.loss(state.net, data.face, data.neutral)
        result.total.backward()
        average_gradients(ctx, params)
        flags = [torch.isfinite(p.grad).all() for p in params if p.grad is not None]
        skipped = not bool(torch.stack(flags).all()) if flags else False
        if skipped:
            state.progress.skipped_g += 1
        else:
            state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
        state.progress.step += 1
        state.progress.samples += state.config.batch
        state.progress.sampler = {"next_step": state.progress.step}
        terms = {f"g/{k}": float(v) for k, v in result.terms.items()}
        terms = mean_over_ranks(ctx, terms)
        done = state.progress.step
        yield StepDone(step=done, samples=state.progress.samples, batch=state.config.batch, paired=True,
                       generator=terms, discriminator={}, r1=False, skipped_g=skipped, skipped_d=False,
                       skipped_total=state.progress.skipped_g, ema_beta=0.0, seconds=clock() - t0,
                       elapsed_s=elapsed())
        now = clock()
        if settings.max_steps is not None and done >= settings.max_steps:
            reason = "max_steps"
        elif any_rank(ctx, stop.requested):
            reason = "signal"
        elif any_rank(ctx, settings.max_minutes is not None
                      and now - session_start >= settings.max_minutes * 60.0):
            reason = "time_budget"
        due = done % settings.checkpoint_every == 0 or (
            settings.checkpoint_minutes is not None and now - last_save >= settings.checkpoint_minutes * 60.0)
        if reason is None and any_rank(ctx, due):
            yield save()
    if saved_step != state.progress.step:
        yield save()
    yield Stopped(step=state.progress.step, reason=reason, checkpoint=last_path)
