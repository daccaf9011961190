"""What feeds the loop: a face cache turned into each step's micro-batches on the training device.

:class:`CacheFeed` implements :class:`training.loop.TrainingData` over a
:class:`~training.data.dataset.FaceCacheDataset`:

* step k's global batch is positions k·B ... (k+1)·B − 1 of the pair sampler's source stream
  (:class:`~training.data.pairs.PairSampler`, B = ``config.batch``), a pseudo-pair batch when
  ``config.is_paired_step(k)``; each key carries its reference and augmentation seed, so the data
  of a step depends on (seed, k) alone: a resumed run sees what the uninterrupted one saw, and
  N ranks see what one rank with N times the accumulation sees;
* this rank's share is cut by :func:`training.distributed.shard_batch` (the sampler's own
  per-rank slices, with gradient accumulation on top);
* samples are loaded in ``workers`` DataLoader processes (0: in this process), collated, and
  turned into the objective's :class:`~training.batch.Batch` on the device by
  :class:`~training.data.batches.BatchBuilder` (geometry images and flows, batched).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch.utils.data import DataLoader

from core.errors import GafetError
from training.batch import Batch
from training.config import TrainingConfig
from training.data.batches import BatchBuilder
from training.data.dataset import FaceCacheDataset
from training.data.pairs import PairKey, PairSampler
from training.data.samples import PairBatch, collate_pairs
from training.distributed import DistContext, shard_batch
from training.loop import StepData

__all__ = ["CacheFeed", "FeedError", "check_cache"]


class FeedError(GafetError):
    """The face cache does not fit the training config (another crop size, too few faces)."""


def check_cache(dataset: FaceCacheDataset, config: TrainingConfig) -> None:
    """Raise :class:`FeedError` unless the cache's crops are the config's resolution and it has faces."""
    if dataset.size != config.net.resolution:
        raise FeedError(f"The face cache holds {dataset.size} px crops, but training config "
                        f"'{config.name}' trains at {config.net.resolution} px; prepare the cache with "
                        f"--size {config.net.resolution}.")
    if len(dataset) == 0:
        raise FeedError("The face cache holds no faces (all were skipped or held out); see its report.txt.")


class _MicroKeys:
    """An endless batch sampler: this rank's micro-batch key lists, step after step."""

    def __init__(self, feed: CacheFeed, start: int) -> None:
        self.feed = feed
        self.start = start

    def __iter__(self) -> Iterator[list[PairKey]]:
        step = self.start
        while True:
            yield from self.feed.micro_keys(step)
            step += 1


class CacheFeed:
    """Step data for this rank (module docstring). workers: DataLoader worker processes."""

    def __init__(self, dataset: FaceCacheDataset, config: TrainingConfig, ctx: DistContext, *,
                 workers: int = 0) -> None:
        check_cache(dataset, config)
        if workers < 0:
            raise FeedError(f"--workers must be >= 0, got {workers}.")
        config.micro_batch(ctx.world_size)  # the batch must split over ranks and accumulation rounds
        self.dataset = dataset
        self.config = config
        self.ctx = ctx
        self.workers = workers
        self.sampler: PairSampler = dataset.sampler(batch_size=config.batch, seed=config.seed)
        self.builder = BatchBuilder(device=ctx.device, resolution=config.net.resolution,
                                    de_expression=config.pairs.use_de_expression)

    def global_keys(self, step: int) -> list[PairKey]:
        """The ``config.batch`` keys of step ``step`` (all ranks)."""
        paired = self.config.is_paired_step(step)
        first = step * self.config.batch
        return [self.sampler.key(p, paired) for p in range(first, first + self.config.batch)]

    def micro_keys(self, step: int) -> list[list[PairKey]]:
        """This rank's micro-batches of step ``step``."""
        return shard_batch(self.global_keys(step), rank=self.ctx.rank, world_size=self.ctx.world_size,
                           accumulation=self.config.accumulation)

    def load(self, keys: Sequence[PairKey]) -> Batch:
        """One micro-batch, loaded here, as an objective batch on the device."""
        return self.builder(collate_pairs([self.dataset[k] for k in keys]))

    def steps(self, start: int) -> Iterator[StepData]:
        """Steps ``start``, ``start + 1``, ... (endless)."""
        if self.workers == 0:
            step = start
            while True:
                yield StepData(step=step, paired=self.config.is_paired_step(step),
                               micro_batches=[self.load(k) for k in self.micro_keys(step)])
                step += 1
        rounds = self.config.accumulation
        loader = DataLoader(self.dataset, batch_sampler=_MicroKeys(self, start), collate_fn=collate_pairs,
                            num_workers=self.workers, pin_memory=self.ctx.device.type == "cuda",
                            persistent_workers=True, prefetch_factor=2)
        pending: list[PairBatch] = []
        step = start
        for pairs in loader:
            pending.append(pairs)
            if len(pending) == rounds:
                yield StepData(step=step, paired=self.config.is_paired_step(step),
                               micro_batches=[self.builder(p) for p in pending])
                pending = []
                step += 1

