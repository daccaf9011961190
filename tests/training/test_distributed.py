"""Several processes, one run: sharding, gradient averaging, equal weights (gloo on the CPU)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.helpers.training import StandInData, StandInObjective, distributed_worker
from training.config import R1Config, training_config
from training.distributed import DistributedError, local_context, shard_batch, spawn, weights_checksum
from training.loop import LoopSettings, train
from training.state import CheckpointFolder, load_state, new_state


def test_shards_of_n_ranks_are_the_micro_batches_of_one_rank_accumulating_n_times():
    items = list(range(12))
    one = shard_batch(items, rank=0, world_size=1, accumulation=6)
    three = [shard_batch(items, rank=r, world_size=3, accumulation=2) for r in range(3)]
    assert one == [m for rank in three for m in rank]
    assert one[0] == [0, 1] and three[2] == [[8, 9], [10, 11]]
    with pytest.raises(DistributedError, match="does not split"):
        shard_batch(items, rank=0, world_size=5, accumulation=1)


def test_the_checksum_sees_any_change_and_swaps():
    net = torch.nn.Linear(4, 3)
    base = weights_checksum([net])
    with torch.no_grad():
        net.weight[0, 0] += 1e-6
    assert not torch.equal(weights_checksum([net]), base)
    with torch.no_grad():
        net.weight[0, 0] -= 1e-6
        w = net.weight.clone()
        net.weight[0, 0], net.weight[1, 1] = w[1, 1], w[0, 0]
    assert not torch.equal(weights_checksum([net]), base)


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    base = dataclasses.replace(training_config("cpu-smoke"), batch=4, r1=R1Config(gamma=1.0, interval=2))
    steps = 2  # R1 on step 0, none on step 1
    single = new_state(dataclasses.replace(base, accumulation=2))  # 2 micro-batches of 2
    for _ in train(single, StandInData(single.config), StandInObjective(), ctx=local_context("cpu"),
                   run_dir=tmp_path / "one", settings=LoopSettings(max_steps=steps, checkpoint_minutes=None)):
        pass

    # fork: the children need not import torch again (CPU only; gafet train --gpus uses spawn)
    spawn(2, distributed_worker, (dataclasses.replace(base, accumulation=1), str(tmp_path / "two"), steps),
          start_method="fork")

    path = CheckpointFolder(tmp_path / "two").latest()
    assert path is not None and path.name == f"step-{steps:08d}.safetensors"
    assert not list((tmp_path / "two").glob("checkpoints/.*"))  # rank 0 alone wrote, completely
    two = load_state(path).state
    assert two.progress.samples == single.progress.samples == steps * 4
    worst = 0.0
    for a, b in ((single.generator, two.generator), (single.generator_ema, two.generator_ema),
                 (single.discriminator, two.discriminator),
                 (single.component_discriminator, two.component_discriminator)):
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
            worst = max(worst, float((x - y).abs().max()))
    assert worst <= 1e-6, worst
    fresh = new_state(base)
    moved = max(float((x - y).abs().max()) for x, y in
                zip(fresh.generator.state_dict().values(), two.generator.state_dict().values(), strict=True))
    assert moved > 1e-3  # training changed the weights, so the equality above means something
    assert (tmp_path / "two" / "drift.txt").read_text().startswith("detected: ")
