"""The training dataset over a real face cache: typed pair samples, §3.5 alternation, references,
determinism, DDP slices, hold-out filtering, augmentation, and the objective's Batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from core.geometry.au.model import AUFaceModel
from core.geometry.face_model import FaceParams, Pose
from tests.training.conftest import PreparedFaceCache
from training.data.augment import (
    NO_AUGMENT,
    AugmentConfig,
    AugmentDraw,
    MirrorModel,
    draw,
    flip_face,
    jitter_image,
)
from training.data.batches import BatchBuilder
from training.data.cache import FaceCache
from training.data.dataset import FaceCacheDataset
from training.data.pairs import PairingConfig, PairingError, PairKey, PairSampler
from training.data.samples import FaceView, PairBatch, collate_pairs
from training.data.sources import FrameRange

AUGMENT = AugmentConfig(flip=0.5, brightness=0.1, contrast=0.1, saturation=0.1)


@pytest.fixture(scope="module")
def dataset(face_cache: PreparedFaceCache) -> FaceCacheDataset:
    return FaceCacheDataset(face_cache.root, augment=AUGMENT)


def loader(data: FaceCacheDataset, sampler: PairSampler, workers: int = 0) -> DataLoader:
    return DataLoader(data, batch_sampler=sampler, collate_fn=collate_pairs, num_workers=workers)


def batches(data: FaceCacheDataset, sampler: PairSampler, steps: int, workers: int = 0) -> list[PairBatch]:
    return [b for _, b in zip(range(steps), loader(data, sampler, workers), strict=False)]


def leaves(x: object) -> list[torch.Tensor]:
    """Every tensor of a (nested) NamedTuple, in order."""
    return [x] if isinstance(x, torch.Tensor) else [t for f in x for t in leaves(f)]


def assert_view(v: FaceView, b: int, r: int) -> None:
    assert v.image.shape == (b, 3, r, r) and v.image.dtype == torch.float32
    assert -1.0 <= float(v.image.min()) and float(v.image.max()) <= 1.0 and float(v.image.std()) > 0.1
    assert v.landmarks.shape == v.identity.shape == (b, 468, 3) and v.expression.shape == (b, 20)
    assert v.scale.shape == (b,) and v.rotation.shape == (b, 3, 3) and v.translation.shape == (b, 3)
    assert v.boxes.shape == (b, 3, 5)
    xy = v.landmarks[..., :2]
    assert bool(((xy > -0.5) & (xy < r - 0.5)).all())
    centres = v.boxes[..., :2]  # in the component-crop convention: inside the crop, mouth below the eyes
    assert bool(((centres > 0) & (centres < r)).all()) and bool((v.boxes[:, 2, 1] > v.boxes[:, 0, 1]).all())


def test_batches_alternate_and_have_the_documented_shapes(dataset: FaceCacheDataset) -> None:
    r = dataset.size
    got = batches(dataset, dataset.sampler(batch_size=3, seed=0), 4)
    assert [b.is_paired for b in got] == [True, False, True, False]
    for b in got:
        for view in (b.source, b.reference, b.original):
            assert_view(view, 3, r)
        assert b.paired.shape == (3,) and b.index.shape == (3, 2) and b.batch_size == 3
        if b.is_paired:  # (X_n, X): the reference is X itself, the source its neutral version
            assert torch.equal(b.index[:, 0], b.index[:, 1])
            assert torch.equal(b.reference.image, b.original.image)
            assert not torch.equal(b.source.image, b.original.image)
            assert bool((b.source.expression == 0).all())
        else:  # (X_n, Y): another face
            assert bool((b.index[:, 0] != b.index[:, 1]).all())
    assert isinstance(got[0].source.params(), FaceParams)


def test_unpaired_references_come_from_other_inputs_or_other_expressions(dataset: FaceCacheDataset) -> None:
    groups = dataset.groups
    expr = dataset.expressions()
    other = dataset.sampler(batch_size=8, seed=3, config=PairingConfig(mode="unpaired", same_group=0.0))
    keys = [k for step in range(4) for k in other.batch(step)]
    assert all(groups[k.source] != groups[k.reference] and not k.paired for k in keys)
    same = dataset.sampler(batch_size=8, seed=3, config=PairingConfig(mode="unpaired", same_group=1.0))
    video = int(np.bincount(groups).argmax())  # the video with the most frames
    for step in range(4):
        for k in same.batch(step):
            if groups[k.source] != video:
                continue
            members = [j for j in np.flatnonzero(groups == video) if j != k.source]
            dist = np.abs(expr[members] - expr[k.source]).sum(1)
            assert groups[k.reference] == video and k.reference != k.source
            assert np.abs(expr[k.reference] - expr[k.source]).sum() >= np.median(dist) - 1e-6


def test_same_seed_same_batches_any_worker_count(dataset: FaceCacheDataset) -> None:
    a = batches(dataset, dataset.sampler(batch_size=2, seed=5), 3)
    b = batches(dataset, dataset.sampler(batch_size=2, seed=5), 3, workers=2)
    c = batches(dataset, dataset.sampler(batch_size=2, seed=6), 3)
    for x, y in zip(a, b, strict=True):
        assert all(torch.equal(p, q) for p, q in zip(leaves(x), leaves(y), strict=True))
    assert any(not torch.equal(x.index, z.index) for x, z in zip(a, c, strict=True))


def test_ranks_split_the_global_batch_and_resume_mid_stream(dataset: FaceCacheDataset) -> None:
    single = dataset.sampler(batch_size=4, seed=2)
    ranks = [dataset.sampler(batch_size=2, seed=2, rank=r, world_size=2) for r in range(2)]
    n = len(dataset)
    for step in range(2 * n // 4 + 2):  # across epoch boundaries
        assert single.batch(step) == ranks[0].batch(step) + ranks[1].batch(step)
    sources = [k.source for step in range(n) for k in single.batch(step)][: n * 2]
    assert sorted(sources[:n]) == list(range(n)) and sorted(sources[n:]) == list(range(n))  # epochs
    resumed = dataset.sampler(batch_size=4, seed=2, start_step=5)
    assert next(iter(resumed)) == single.batch(5)
    key = single.batch(1)[0]
    assert all(torch.equal(p, q) for p, q in zip(leaves(dataset[key]), leaves(dataset[key]), strict=True))


def test_holdout_filter_removes_the_frames(face_cache: PreparedFaceCache) -> None:
    full = FaceCacheDataset(face_cache.root)
    kept = FaceCacheDataset(face_cache.root, exclude=[FrameRange.parse("neutral_to_smile.mp4:0:61")])
    gone = [i for i in full.infos if i.source.endswith("neutral_to_smile.mp4") and 0 <= i.frame < 61]
    assert gone and len(kept) == len(full) - len(gone)
    assert not any(i.source.endswith("neutral_to_smile.mp4") and i.frame < 61 for i in kept.infos)
    assert kept.expressions().shape == (len(kept), 20) and kept.groups.shape == (len(kept),)


def test_flip_mirrors_the_face_and_keeps_its_parameters_exact(face_cache: PreparedFaceCache) -> None:
    cache = FaceCache(face_cache.root)
    model = AUFaceModel()
    mirror = MirrorModel.from_au_model()
    t = lambda a: torch.from_numpy(np.array(a, dtype=np.float32))[None]  # noqa: E731
    for i in range(0, len(cache), 3):
        face = cache.face(i)
        flipped = flip_face(face, mirror)
        np.testing.assert_array_equal(flipped.image, np.asarray(face.image)[:, ::-1])
        np.testing.assert_array_equal(flipped.expression, face.expression)
        params = FaceParams(t(flipped.identity), t(flipped.expression),
                            Pose(t(flipped.scale).reshape(1), t(flipped.rotation), t(flipped.translation)))
        verts = model.vertices_of(params)[0].numpy()
        assert np.abs(verts - flipped.landmarks).max() < 2e-3  # the model reproduces the mirrored mesh
        # the person's right eye (vertex 33) stays image-left of the left eye (263), at the mirrored spot
        assert flipped.landmarks[33, 0] < flipped.landmarks[263, 0]
        assert abs(flipped.landmarks[33, 0] - (63 - face.landmarks[263, 0])) < 1e-4
        assert np.linalg.det(flipped.rotation) == pytest.approx(1.0, abs=1e-4)
        back = flip_face(flipped, mirror)
        for a, b in zip(back, face, strict=True):
            np.testing.assert_allclose(a, b, atol=2e-3)


def test_paired_samples_share_flip_and_jitter(dataset: FaceCacheDataset) -> None:
    plain = FaceCacheDataset(dataset.cache)[0]
    flips = 0
    for seed in range(6):
        s = dataset[PairKey(source=0, reference=0, paired=True, seed=seed)]
        d = draw(AUGMENT, np.random.default_rng(seed))  # the one draw of this sample
        flips += d.flip
        for got, base in ((s.original, plain.original), (s.source, plain.source)):  # X and X_n alike
            image = base.image.flip(-1) if d.flip else base.image
            assert torch.allclose(got.image, jitter_image(image, d), atol=1e-6)
            assert d.flip != torch.allclose(got.landmarks, base.landmarks)
        assert s.reference is s.original
    assert 0 < flips < 6


def test_colour_jitter_stays_in_range() -> None:
    image = torch.rand(3, 16, 16) * 2 - 1
    assert jitter_image(image, AugmentDraw(False, 0.0, 1.0, 1.0)) is image
    brighter = jitter_image(image, AugmentDraw(False, 0.1, 1.0, 1.0))
    assert float(brighter.mean()) > float(image.mean()) and float(brighter.max()) <= 1.0
    grey = jitter_image(image, AugmentDraw(False, 0.0, 1.0, 0.0 + 1e-6))
    assert float((grey - grey.mean(0, keepdim=True)).abs().max()) < 1e-3  # saturation ~0: grey
    with pytest.raises(ValueError):
        AugmentConfig(contrast=1.5)


def test_mixed_batches_and_tiny_caches_are_refused(dataset: FaceCacheDataset) -> None:
    a = dataset[PairKey(0, 0, True, 1)]
    b = dataset[PairKey(0, 1, False, 1)]
    with pytest.raises(ValueError, match="mixes"):
        collate_pairs([a, b])
    with pytest.raises(PairingError, match="two faces"):
        PairSampler(np.zeros(1), np.zeros((1, 20)), batch_size=1)
    with pytest.raises(IndexError):
        dataset[PairKey(len(dataset), 0, False, 0)]
    assert NO_AUGMENT.flip == 0


def test_batch_builder_makes_the_objective_batch(dataset: FaceCacheDataset, app_assets: None) -> None:
    builder = BatchBuilder(device="cpu", resolution=dataset.size)
    paired, unpaired = batches(FaceCacheDataset(dataset.cache), dataset.sampler(batch_size=2, seed=0), 2)
    for pairs in (paired, unpaired):
        batch = builder(pairs)
        batch.check(resolution=dataset.size, geometry_channels=4)
        assert batch.paired == pairs.is_paired
        assert torch.equal(batch.source, pairs.source.image)
        assert torch.equal(batch.reference, pairs.reference.image)
        assert float(batch.geometry[:, 3].mean()) > 0.1  # the target face covers the crop's middle
    # a pseudo-pair's target is X's own mesh; an unpaired target has X_n's pose with Y's expression
    assert torch.allclose(builder(paired).target_landmarks, paired.original.landmarks, atol=1e-3)
    model = AUFaceModel()
    expected = model.vertices_of(unpaired.source.params().replace(expression=unpaired.reference.expression))
    assert torch.allclose(builder(unpaired).target_landmarks, expected, atol=1e-3)
    no_dex = BatchBuilder(device="cpu", resolution=dataset.size, de_expression=False)(paired)
    assert torch.equal(no_dex.source, paired.original.image)
    with pytest.raises(ValueError, match="--size 128"):
        BatchBuilder(device="cpu", resolution=128)(paired)


def test_cache_pickles_without_its_memory_maps(face_cache: PreparedFaceCache, tmp_path: Path) -> None:
    import pickle

    cache = FaceCache(face_cache.root)
    cache.face(0)  # maps shard 0
    clone = pickle.loads(pickle.dumps(cache))
    assert len(pickle.dumps(cache)) < 200_000  # no pixels travel to DataLoader workers
    np.testing.assert_array_equal(clone.face(0).image, cache.face(0).image)
