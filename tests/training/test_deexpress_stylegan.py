"""The stylegan2 pair source end to end on a tiny random StyleGAN2: a few editing steps with the
coefficient, normal-map and identity losses, 16 pairs (a killed run resumes without duplicates),
then a few U²-Net steps on them through ``gafet deexpress train --pairs stylegan2``. Plumbing,
not quality."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from core.nets.stylegan2 import StyleGAN2, stylegan2_config
from gafet_studio.cli.main import main
from training.deexpress.config import DeexpressLoss, config_to_dict, deexpress_config
from training.deexpress.pair_store import PairStore
from training.deexpress.stylegan_pairs import (
    EditorLossWeights,
    generate_pairs,
    load_editor,
    load_judges,
    new_editor,
    run_pairs_command,
    save_editor,
    train_editor,
)


def test_stylegan2_path_end_to_end(tmp_path: Path, app_assets: None) -> None:
    torch.manual_seed(0)
    generator = StyleGAN2(stylegan2_config("tiny-32")).eval().requires_grad_(False)
    editor = new_editor(generator)
    judges = load_judges()
    steps = list(train_editor(generator, editor, judges, steps=2, batch=2, lr=1e-3,
                              weights=EditorLossWeights(random_code=0.5)))
    assert [s.step for s in steps] == [1, 2]
    assert all(np.isfinite(v) for s in steps for v in s.losses.values())
    assert set(steps[0].losses) == {"coefficients", "normals", "identity", "delta", "total"}
    assert float(editor.out.weight.detach().abs().sum()) > 0  # the losses reached the editor
    ckpt = save_editor(tmp_path / "editor.safetensors", generator, editor, {"generator": "tiny-32 random"})
    bundle = load_editor(ckpt)

    pairs = tmp_path / "pairs"
    killed = generate_pairs(bundle, pairs, count=16, seed=3, shard_size=6, batch=4)
    next(killed)
    next(killed)  # one shard written, then the run is killed
    killed.close()
    assert len(PairStore(pairs)) == 6
    events: list = []
    args = argparse.Namespace(editor=ckpt, output=pairs, count=16, seed=3, shard_size=6, batch=4,
                              device="cpu")
    assert run_pairs_command(args, on_progress=events.append) == 0
    store = PairStore(pairs)
    assert len(store) == 16 and sorted(store.indices().tolist()) == list(range(16))
    assert events[0].done == 6 and events[-1].done == 16
    face, neutral = store.pair(7)
    assert face.shape == (32, 32, 3) and face.dtype == np.uint8
    # the same pair again from scratch: a pure function of (seed, index)
    again = tmp_path / "again"
    list(generate_pairs(bundle, again, count=8, seed=3, shard_size=8, batch=8))
    assert np.array_equal(PairStore(again).pair(7)[0], face)

    config = tmp_path / "tiny-l1.json"
    cfg = deexpress_config("tiny-32")
    config.write_text(json.dumps(config_to_dict(cfg.replace(loss=DeexpressLoss(lpips=0.0)))))
    run = tmp_path / "run"
    assert main(["deexpress", "train", "--config", str(config), "--pairs", "stylegan2", "--data", str(pairs),
                 "--run-dir", str(run), "--max-steps", "3", "--no-progress", "--no-tensorboard"]) == 0
    assert json.loads((run / "run.json").read_text())["run"]["pairs"] == "stylegan2"
    assert (run / "checkpoints" / "step-00000003.safetensors").is_file()
