"""Small stand-ins for the training loop's data and objective (tests of the loop machinery only).

They follow :class:`training.loop.TrainingData` and :class:`training.loop.Objective` with random
images and a tiny loss (L1 to a target + non-saturating adversarial + R1), so resume, signals,
sharding and the non-finite guard can be tested in seconds without the face cache or the VGGs.
The real objective and data are tested in tests/training/test_train_cmd.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from core.nets.gafet import GafetNetworks
from tests.helpers.nets import make_inputs
from training.config import TrainingConfig
from training.distributed import DistContext, local_context, shard_batch
from training.loop import StepData


class StandInBatch(NamedTuple):
    source: torch.Tensor
    reference: torch.Tensor
    geometry: torch.Tensor
    flow: torch.Tensor
    target: torch.Tensor


class StandInResult(NamedTuple):
    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    output: torch.Tensor | None = None

    def named(self) -> dict[str, torch.Tensor]:
        return {**self.terms, "total": self.total.detach()}


class StandInData:
    """``count`` fixed random samples; step k's global batch depends on (seed, k) alone."""

    def __init__(self, config: TrainingConfig, *, ctx: DistContext | None = None, count: int = 8,
                 seed: int = 0) -> None:
        inputs = make_inputs(config.net, count, seed=seed)
        self.samples = StandInBatch(*inputs, target=torch.roll(inputs.source, 1, dims=0))
        self.config = config
        self.ctx = ctx or local_context("cpu")
        self.seed = seed
        self.count = count

    def global_batch(self, step: int) -> list[int]:
        rng = np.random.default_rng([self.seed, step])
        return [int(i) for i in rng.integers(0, self.count, self.config.batch)]

    def load(self, items: Sequence[int]) -> StandInBatch:
        idx = torch.tensor(list(items))
        return StandInBatch(*(t[idx].to(self.ctx.device) for t in self.samples))

    def steps(self, start: int) -> Iterator[StepData]:
        step = start
        while True:
            shares = shard_batch(self.global_batch(step), rank=self.ctx.rank, world_size=self.ctx.world_size,
                                 accumulation=self.config.accumulation)
            yield StepData(step=step, paired=self.config.is_paired_step(step),
                           micro_batches=[self.load(s) for s in shares])
            step += 1


class StandInObjective:
    """L1 to the target (+ a little noise from the global RNG, to check that seeding is exact),
    non-saturating adversarial terms, R1 on real images. ``nan_at``: G calls whose loss is NaN."""

    trains_discriminators = True

    def __init__(self, *, nan_at: Sequence[int] = (), noise: float = 1e-3) -> None:
        self.nan_at = set(nan_at)
        self.noise = noise
        self.calls = 0

    def uses_bf16(self, device: torch.device) -> bool:
        return False

    def generator_loss(self, nets: GafetNetworks, batch: StandInBatch) -> StandInResult:
        out = nets.generator(batch.source, batch.reference, batch.geometry, batch.flow).image
        l1 = (out - batch.target).abs().mean() + self.noise * torch.rand(())
        adv = F.softplus(-nets.discriminator(out)).mean()
        total = l1 + 0.1 * adv
        if self.calls in self.nan_at:
            total = total * float("nan")
        self.calls += 1
        return StandInResult(total=total, terms={"rec_l1": l1.detach(), "adv_global": adv.detach()},
                             output=out.detach())

    def discriminator_loss(self, nets: GafetNetworks, batch: StandInBatch, fake: torch.Tensor, *,
                           r1: bool) -> StandInResult:
        real = batch.target.detach().clone().requires_grad_(r1)
        real_logits = nets.discriminator(real)
        loss = F.softplus(nets.discriminator(fake)).mean() + F.softplus(-real_logits).mean()
        terms = {"adv_global": loss.detach()}
        if r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            penalty = grad.square().sum(dim=(1, 2, 3)).mean()
            loss = loss + 0.5 * 2 * penalty
            terms["r1_global"] = penalty.detach()
        return StandInResult(total=loss, terms=terms)


def distributed_worker(config: TrainingConfig, run_dir: str, steps: int) -> None:
    """One rank of a gloo run (started by :func:`training.distributed.spawn`): train ``steps`` steps
    with the stand-ins, then check that a deliberate drift on rank 1 is detected (rank 0 writes
    ``drift.txt``)."""
    from pathlib import Path

    from training.distributed import DistributedError, check_equal_weights, init_distributed, shutdown
    from training.loop import LoopSettings, train
    from training.state import new_state

    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    try:
        state = new_state(config)
        for _ in train(state, StandInData(config, ctx=ctx), StandInObjective(), ctx=ctx, run_dir=run_dir,
                       settings=LoopSettings(max_steps=steps, checkpoint_minutes=None)):
            pass
        if ctx.rank == 1:
            with torch.no_grad():
                next(state.generator.parameters()).view(-1)[0] += 1e-4
        try:
            check_equal_weights(ctx, [state.generator])
            outcome = "not detected"
        except DistributedError as err:
            outcome = f"detected: {err}"
        if ctx.is_main:
            (Path(run_dir) / "drift.txt").write_text(outcome)
    finally:
        shutdown(ctx)
