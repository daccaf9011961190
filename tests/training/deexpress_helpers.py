"""A small synthetic face cache for the De-expression tests (no face networks needed).

Each face X is a smooth random colour image with a dark "mouth" bar; its X_n (the ``warp``
neutraliser's slot) is the same image with the bar made thin, so a network can learn X -> X_n.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data.cache import SHARDS_DIR, CacheSettings, pack_shard, write_index
from training.data.records import FaceArrays, FaceSample, UnitResult
from training.data.shards import shard_name, write_shard


def _face(rng: np.random.Generator, size: int, mouth: int) -> np.ndarray:
    base = rng.integers(60, 200, size=(1, 1, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = base + 40 * np.sin(6 * xx + rng.random())[..., None] + 30 * np.cos(5 * yy)[..., None]
    c = size // 2
    img[int(0.7 * size) - mouth:int(0.7 * size) + mouth + 1, c - size // 6:c + size // 6] = 30
    return np.clip(img, 0, 255).astype(np.uint8)


def _arrays(image: np.ndarray, rng: np.random.Generator) -> FaceArrays:
    size = image.shape[0]
    lm = np.concatenate([rng.uniform(0.2 * size, 0.8 * size, (468, 2)), rng.normal(0, 1, (468, 1))], 1)
    return FaceArrays(image=image, landmarks=lm.astype(np.float32), expression=np.zeros(20, np.float32),
                      identity=np.zeros((468, 3), np.float32), scale=np.float32(size / 4),
                      rotation=np.eye(3, dtype=np.float32),
                      translation=np.array([size / 2, size / 2, 0], np.float32))


def write_synthetic_cache(root: Path, *, faces: int = 6, size: int = 64, neutraliser: str = "warp",
                          seed: int = 0) -> Path:
    """A complete one-shard cache of ``faces`` synthetic faces at ``size`` px; returns ``root``."""
    rng = np.random.default_rng(seed)
    settings = CacheSettings(size=size, neutraliser=neutraliser, shard_size=max(faces, 1))
    samples = []
    for i in range(faces):
        x_img = _face(np.random.default_rng([seed, i]), size, mouth=size // 10)
        xn_img = _face(np.random.default_rng([seed, i]), size, mouth=1)
        x = _arrays(x_img, rng)
        xn = _arrays(xn_img, rng) if neutraliser != "none" else None
        samples.append(FaceSample(x=x, xn=xn, matrix=np.eye(2, 3, dtype=np.float32),
                                  source=f"synthetic{i}.png", frame=-1, face=0, presence=1.0, upscale=1.0,
                                  residual=0.0))
    unit = UnitResult(uid="photo:synthetic", samples=tuple(samples), skipped=(), keys=("synthetic",),
                      images=faces, held_out=0, seconds=0.0)
    (root / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    arrays, records = pack_shard(samples, [unit], size, neutraliser != "none")
    write_shard(root / SHARDS_DIR / shard_name(0), arrays, records)
    write_index(root, settings, [(shard_name(0), faces)], complete=True)
    return root
