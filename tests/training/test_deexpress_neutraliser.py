"""Using De-expression in GaFET training: ``gafet train --neutraliser warp | none | deexpression CKPT``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.deexpress_helpers import write_synthetic_cache
from training.cli import build_parser, config_from_args
from training.config import training_config
from training.data.dataset import FaceCacheDataset
from training.data.neutraliser import NeutralOverlay, NeutralStore, deexpression_cache
from training.deexpress.config import deexpress_config
from training.deexpress.state import export_model, new_state
from training.distributed import local_context
from training.feed import CacheFeed


def _source_batch(cache: Path, *neutraliser: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(G's source, X, X_n) of the first training step with ``--neutraliser ...`` (none: the cache's)."""
    argv = ["--data", str(cache), "--run-dir", "unused", "--config", "cpu-smoke"]
    if neutraliser:
        argv += ["--neutraliser", *neutraliser]
    args = build_parser().parse_args(argv)
    config = config_from_args(args, training_config("cpu-smoke"))
    dataset = FaceCacheDataset(cache)
    feed = CacheFeed(dataset, config, local_context("cpu"))
    keys = feed.micro_keys(0)[0]
    batch = feed.load(keys)
    x = torch.stack([dataset[k.source].original.image for k in keys])
    xn = torch.stack([dataset[k.source].source.image for k in keys])
    return batch.source.cpu(), x, xn


def test_neutraliser_none_feeds_x_as_the_source(tmp_path: Path, app_assets: None) -> None:
    cache = write_synthetic_cache(tmp_path / "cache", faces=4)
    source, x, xn = _source_batch(cache, "none")
    assert not torch.equal(x, xn)  # the cache does hold a different X_n ...
    assert torch.equal(source, x)  # ... and "w/o De-exp" trains from X itself
    source_warp, _, _ = _source_batch(cache)
    assert torch.equal(source_warp, xn)
    source_named, _, _ = _source_batch(cache, "warp")
    assert torch.equal(source_named, xn)


def test_neutraliser_option_needs_the_model() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--data", "c", "--run-dir", "r", "--neutraliser", "deexpression"])
    args = build_parser().parse_args(["--data", "c", "--run-dir", "r", "--neutraliser", "deexpression",
                                      "m.st"])
    assert (args.neutraliser, args.neutraliser_model) == ("deexpression", "m.st")


def test_deexpression_x_n_are_stored_once_and_fed(tmp_path: Path, app_assets: None) -> None:
    cache = write_synthetic_cache(tmp_path / "cache", faces=3)
    state = new_state(deexpress_config("tiny-32"))
    with torch.no_grad():  # a network that changes its input
        state.net.fuse.bias.fill_(0.3)
    model = export_model(state, tmp_path / "dx.safetensors")
    dataset = FaceCacheDataset(cache)
    overlay = deexpression_cache(dataset.cache, model)
    assert isinstance(overlay, NeutralOverlay)
    store = NeutralStore(dataset.cache, model)
    assert store.complete
    stamp = (store.root / "image.npy").stat().st_mtime_ns
    deexpression_cache(dataset.cache, model)  # the second time nothing is recomputed
    assert (store.root / "image.npy").stat().st_mtime_ns == stamp
    x = np.asarray(dataset.cache.face(1, "x").image, np.float32)
    xn = np.asarray(overlay.face(1, "xn").image, np.float32)
    assert xn.shape == x.shape and 20 < float((xn - x).mean()) < 60  # +0.3 in [-1, 1] = +38 levels, clipped
    assert np.all(overlay.face(1, "xn").expression == 0)
    # the training feed sees these X_n as its source
    dataset.cache = overlay
    args = build_parser().parse_args(["--data", str(cache), "--run-dir", "r", "--config", "cpu-smoke",
                                      "--neutraliser", "deexpression", str(model)])
    feed = CacheFeed(dataset, config_from_args(args, training_config("cpu-smoke")), local_context("cpu"))
    keys = feed.micro_keys(0)[0]
    expected = torch.stack([torch.from_numpy(np.asarray(overlay.face(k.source, "xn").image, np.float32))
                            .permute(2, 0, 1) / 127.5 - 1 for k in keys])
    assert torch.allclose(feed.load(keys).source.cpu(), expected)
