"""De-expression training through the training machinery: warp-neutral pairs from a cache, the
objective, checkpoints and an exact resume, the weights rule, the CLI's train command."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.deexpress_helpers import write_synthetic_cache
from training.deexpress.config import DeexpressConfig, config_from_dict, config_to_dict, deexpress_config
from training.deexpress.loop import train
from training.deexpress.objective import DeexpressObjective
from training.deexpress.pairs import PairFeed, PairSourceError, build_pair_source
from training.deexpress.state import DeexpressState, load_model, load_state, new_state
from training.loop import CheckpointSaved, Event, LoopSettings, StepDone, Stopped
from training.state import restore_rng


def _config() -> DeexpressConfig:
    return deexpress_config("tiny-32").replace(perceptual="random")


@pytest.fixture(scope="module")
def objective() -> DeexpressObjective:
    return DeexpressObjective.build(_config())  # LPIPS on random VGG-16: seconds to build, built once


def _run(state: DeexpressState, cache: Path, run_dir: Path, max_steps: int,
         objective: DeexpressObjective) -> list[Event]:
    cfg = state.config
    source = build_pair_source("warp-neutral", data=cache)
    feed = PairFeed(source, resolution=cfg.resolution, batch=cfg.batch, augment=cfg.augment, seed=cfg.seed)
    settings = LoopSettings(max_steps=max_steps, checkpoint_every=2, checkpoint_minutes=None)
    return list(train(state, feed, objective, run_dir=run_dir, settings=settings))


def test_config_json_round_trip() -> None:
    cfg = deexpress_config("cpu-small-64")
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_warp_neutral_pairs_are_the_caches_x_and_xn(tmp_path: Path) -> None:
    cache = write_synthetic_cache(tmp_path / "cache")
    source = build_pair_source("warp-neutral", data=cache)
    pair = source.pair(0)
    assert pair.face.shape == (3, 64, 64) and not torch.equal(pair.face, pair.neutral)
    none = write_synthetic_cache(tmp_path / "none", neutraliser="none")
    with pytest.raises(PairSourceError, match="holds no X_n"):
        build_pair_source("warp-neutral", data=none)


def test_train_checkpoint_and_exact_resume(tmp_path: Path, objective: DeexpressObjective) -> None:
    cache = write_synthetic_cache(tmp_path / "cache")
    cfg = _config()
    straight = new_state(cfg)
    events = _run(straight, cache, tmp_path / "a", 4, objective)
    steps = [e for e in events if isinstance(e, StepDone)]
    assert [e.step for e in steps] == [1, 2, 3, 4]
    assert {"g/l1", "g/side_l1", "g/lpips", "g/total"} <= set(steps[0].generator)
    assert isinstance(events[-1], Stopped) and events[-1].reason == "max_steps"
    # the first two steps, a checkpoint, then a resume for two more: the same weights
    first = new_state(cfg)
    _run(first, cache, tmp_path / "b", 2, objective)
    ckpt = tmp_path / "b" / "checkpoints" / "step-00000002.safetensors"
    loaded = load_state(ckpt)
    restore_rng(loaded.rng[0])
    events_b = _run(loaded.state, cache, tmp_path / "b", 4, objective)
    assert any(isinstance(e, CheckpointSaved) for e in events_b)
    resumed = loaded.state.net.state_dict().values()
    for (k, a), b in zip(straight.net.state_dict().items(), resumed, strict=True):
        assert torch.allclose(a, b, atol=1e-6), k
    model = load_model(tmp_path / "b" / "deexpress.safetensors")
    assert model.step == 4 and model.run == {} and model.config == cfg


def test_random_perceptual_is_recorded(objective: DeexpressObjective) -> None:
    assert objective.metadata() == {"perceptual": "random", "perceptual_random": True}
