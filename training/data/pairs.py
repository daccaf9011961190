"""Which faces go together: pseudo-pairs (X_n, X) and unpaired (X_n, Y) batches (paper §3.5).

"In the training stage, we alternately feed pseudo-paired faces (X_n, X) and unpaired faces
(X, Y) as model inputs." :class:`PairSampler` is a batch sampler for ``torch.utils.data.DataLoader``
(``batch_sampler=``) that yields lists of :class:`PairKey`:

* **alternation**: global step k is a pseudo-pair batch when k is even, an unpaired batch when
  k is odd (``PairingConfig.mode``: "alternate"; "paired" or "unpaired" for ablations and tests);
  every rank agrees on the kind of a step;
* **sources**: each epoch visits every face once as the source, in a permutation drawn from
  (seed, epoch); batches run across epoch boundaries;
* **references Y** (unpaired): another input than X's (another photo, or another video: most
  likely another identity), or, with probability ``same_group`` when X's input has other faces,
  another frame of the same video whose expression differs from X's (AU distance at least the
  median within that input);
* **determinism and DDP**: the global batch of step k is positions k·B·W ... (k+1)·B·W - 1 of the
  source stream (B per rank, W ranks) and rank r takes its r-th slice; the reference and the
  augmentation seed of a position depend only on (seed, position). So a run on W ranks sees
  exactly the faces of a 1-rank run with batch B·W, and ``start_step`` resumes mid-stream.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from core.errors import GafetError


class PairKey(NamedTuple):
    """What the dataset loads for one sample: source X (and X_n), reference (== source when
    paired), whether it is a pseudo-pair, and the sample's augmentation seed."""

    source: int
    reference: int
    paired: bool
    seed: int


@dataclass(frozen=True, kw_only=True)
class PairingConfig:
    mode: Literal["alternate", "paired", "unpaired"] = "alternate"  # §3.5: alternate the two kinds
    same_group: float = 0.25  # chance that Y is another frame of X's own video (when it has one)

    def __post_init__(self) -> None:
        if self.mode not in ("alternate", "paired", "unpaired") or not 0.0 <= self.same_group <= 1.0:
            raise ValueError(f"invalid PairingConfig {self}")


DEFAULT_PAIRING = PairingConfig()


class PairingError(GafetError):
    """The data cannot form the requested pairs (e.g. a single face and unpaired batches)."""


class PairSampler:
    """Batch sampler of :class:`PairKey` lists (module docstring).

    groups: (N,) int, the input (photo or video) each face came from. expressions: (N, 20) AUs.
    batch_size: per rank. rank / world_size: this process in DDP. start_step: the first global
    step to yield (resume). Iteration is endless; stop after the steps you need.
    """

    def __init__(self, groups: np.ndarray, expressions: np.ndarray, *, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1, start_step: int = 0,
                 config: PairingConfig = DEFAULT_PAIRING) -> None:
        groups = np.asarray(groups, np.int64)
        self.expressions = np.asarray(expressions, np.float32)
        n = groups.shape[0]
        if groups.ndim != 1 or self.expressions.shape[0] != n:
            raise ValueError(f"groups (N,) and expressions (N, E) disagree: {groups.shape}, "
                             f"{self.expressions.shape}")
        if n == 0:
            raise PairingError("The face cache is empty: there is nothing to train on.")
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size or start_step < 0:
            raise ValueError(f"need batch_size >= 1, 0 <= rank < world_size, start_step >= 0; got "
                             f"{batch_size}, {rank}, {world_size}, {start_step}")
        if config.mode != "paired" and n < 2:
            raise PairingError("Unpaired batches need at least two faces; the cache holds one.")
        self.groups = groups
        self.n = n
        self.batch_size = batch_size
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.start_step = start_step
        self.config = config
        self._order = np.argsort(groups, kind="stable")  # faces grouped by input
        sorted_groups = groups[self._order]
        uniq, starts, counts = np.unique(sorted_groups, return_index=True, return_counts=True)
        self._span = {int(g): (int(s), int(c)) for g, s, c in zip(uniq, starts, counts, strict=True)}

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def is_paired(self, step: int) -> bool:
        """Whether global step ``step`` is a pseudo-pair batch."""
        if self.config.mode == "alternate":
            return step % 2 == 0
        return self.config.mode == "paired"

    @functools.lru_cache(maxsize=2)  # noqa: B019 (one sampler per run; two epochs alive at a boundary)
    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, 0, epoch]).permutation(self.n)

    def key(self, position: int, paired: bool) -> PairKey:
        """The sample at global ``position`` of the source stream."""
        source = int(self._permutation(position // self.n)[position % self.n])
        rng = np.random.default_rng([self.seed, 1, position])
        reference = source if paired else self._reference(source, rng)
        return PairKey(source=source, reference=reference, paired=paired, seed=int(rng.integers(2**62)))

    def _reference(self, i: int, rng: np.random.Generator) -> int:
        start, count = self._span[int(self.groups[i])]
        others = self.n - count
        use_same = count > 1 and (others == 0 or rng.random() < self.config.same_group)
        if not use_same:
            r = int(rng.integers(others))
            return int(self._order[r if r < start else r + count])
        members = self._order[start:start + count]
        members = members[members != i]
        dist = np.abs(self.expressions[members] - self.expressions[i]).sum(axis=1)
        candidates = members[dist >= np.median(dist)]
        return int(candidates[rng.integers(len(candidates))])

    def batch(self, step: int) -> list[PairKey]:
        """This rank's keys of global step ``step``."""
        paired = self.is_paired(step)
        first = step * self.global_batch + self.rank * self.batch_size
        return [self.key(p, paired) for p in range(first, first + self.batch_size)]

    def __iter__(self) -> Iterator[list[PairKey]]:
        step = self.start_step
        while True:
            yield self.batch(step)
            step += 1
