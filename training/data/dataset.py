"""The training dataset over a face cache: §3.5 pair samples as typed tensors.

    data = FaceCacheDataset("cache-128", augment=AugmentConfig(), exclude=[FrameRange.parse("a.mp4:300:420")])
    sampler = data.sampler(batch_size=8, seed=0, rank=rank, world_size=world)
    loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate_pairs, num_workers=2)
    for step, batch in zip(range(start, stop), loader):      # PairBatch, alternating kinds
        ...

``data[key]`` for a :class:`~training.data.pairs.PairKey` returns a
:class:`~training.data.samples.PairSample`: X_n as the source, X (pseudo-pair) or Y (unpaired)
as the reference, and X, each a :class:`~training.data.samples.FaceView` (image in [-1, 1],
mesh in crop px, AUs, identity, pose, component boxes). It is a pure function of the key: the
augmentation is seeded by ``key.seed`` (:mod:`training.data.augment`), so results do not depend
on the DataLoader's worker count or order. ``data[i]`` (an int) is the pseudo-pair of face i,
unaugmented.

``exclude``: hold-out frame ranges of videos (``FILE:START:END``, as ``gafet prepare --holdout``
and ``gafet evaluate --holdout`` write them) filtered out after preparation; indices are then
positions among the remaining faces (``infos`` describes each).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from training.data.augment import (
    NO_AUGMENT,
    AugmentConfig,
    AugmentDraw,
    MirrorModel,
    draw,
    flip_face,
    jitter_image,
)
from training.data.cache import FaceCache, SampleInfo
from training.data.pairs import DEFAULT_PAIRING, PairingConfig, PairKey, PairSampler
from training.data.records import FaceArrays
from training.data.samples import FaceView, PairSample, face_boxes
from training.data.sources import FrameRange


def to_view(face: FaceArrays, jitter: AugmentDraw | None = None) -> FaceView:
    """Cached arrays (uint8 HWC image) -> a FaceView (float CHW image in [-1, 1], boxes added)."""
    image = torch.from_numpy(np.array(face.image, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1.0
    if jitter is not None:
        image = jitter_image(image, jitter)
    t = lambda a: torch.from_numpy(np.array(a, dtype=np.float32))  # noqa: E731
    landmarks = t(face.landmarks)
    return FaceView(image=image.contiguous(), landmarks=landmarks, expression=t(face.expression),
                    identity=t(face.identity), scale=t(face.scale).reshape(()), rotation=t(face.rotation),
                    translation=t(face.translation), boxes=face_boxes(landmarks))


class FaceCacheDataset(Dataset):
    """Pair samples over a prepared cache (module docstring).

    cache: a cache folder or an open :class:`~training.data.cache.FaceCache`. augment: the
    augmentation (default: none). exclude: frame ranges to leave out.
    """

    def __init__(self, cache: str | os.PathLike[str] | FaceCache, *, augment: AugmentConfig = NO_AUGMENT,
                 exclude: Sequence[FrameRange] = ()) -> None:
        self.cache = cache if isinstance(cache, FaceCache) else FaceCache(cache)
        self.augment = augment
        keep = [i for i, info in enumerate(self.cache.infos) if not _excluded(info, exclude)]
        self._rows = np.asarray(keep, np.int64)
        sources = [self.cache.infos[i].source for i in keep]
        ids: dict[str, int] = {}
        self.groups = np.asarray([ids.setdefault(s, len(ids)) for s in sources], np.int64)
        self._mirror = MirrorModel.from_au_model() if augment.flip > 0 else None

    def __len__(self) -> int:
        return int(self._rows.shape[0])

    @property
    def size(self) -> int:
        """R, the crop side in px."""
        return self.cache.size

    @property
    def infos(self) -> tuple[SampleInfo, ...]:
        """Where each face of this dataset (after ``exclude``) came from."""
        return tuple(self.cache.infos[i] for i in self._rows)

    def expressions(self) -> np.ndarray:
        """(N, 20) float32 X's AUs of this dataset's faces."""
        return self.cache.expressions()[self._rows]

    def sampler(self, *, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                start_step: int = 0, config: PairingConfig = DEFAULT_PAIRING) -> PairSampler:
        """A :class:`~training.data.pairs.PairSampler` over this dataset."""
        return PairSampler(self.groups, self.expressions(), batch_size=batch_size, seed=seed, rank=rank,
                           world_size=world_size, start_step=start_step, config=config)

    def _face(self, index: int, which: str, d: AugmentDraw) -> FaceView:
        face = self.cache.face(int(self._rows[index]), which)
        if d.flip and self._mirror is not None:
            face = flip_face(face, self._mirror)
        return to_view(face, d)

    def __getitem__(self, key: PairKey | int) -> PairSample:
        if not isinstance(key, PairKey):
            index = int(key)
            key = PairKey(source=index, reference=index, paired=True, seed=0)
            augment = NO_AUGMENT
        else:
            augment = self.augment
        n = len(self)
        if not (0 <= key.source < n and 0 <= key.reference < n):
            raise IndexError(f"face index out of range: {key} for {n} faces")
        rng = np.random.default_rng(key.seed)
        d_src = draw(augment, rng)
        d_ref = d_src if key.paired else draw(augment, rng)
        original = self._face(key.source, "x", d_src)
        source = self._face(key.source, "xn", d_src)
        reference = original if key.paired else self._face(key.reference, "x", d_ref)
        return PairSample(source=source, reference=reference, original=original,
                          paired=torch.tensor(bool(key.paired)),
                          index=torch.tensor([key.source, key.reference], dtype=torch.int64))


def _excluded(info: SampleInfo, exclude: Sequence[FrameRange]) -> bool:
    if info.frame < 0:
        return False
    path = Path(info.source)
    return any(r.start <= info.frame < r.end and r.matches(path) for r in exclude)
