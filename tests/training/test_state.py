"""Training checkpoints: one safetensors file holding the whole run, readable by the Studio's loaders."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.editing.gafet.registry import inspect_checkpoint, load_editor
from core.editing.spec import EditorSpec, build_editor
from core.nets.checkpoint import (
    CheckpointCorruptError,
    load_checkpoint,
    read_header,
    save_checkpoint,
    verify_checkpoint,
)
from training.config import training_config
from training.state import (
    CheckpointFolder,
    TrainingStateError,
    capture_rng,
    export_generator,
    is_training_checkpoint,
    load_state,
    new_state,
    restore_rng,
    save_state,
)

ROOT = Path(__file__).resolve().parents[2]


def _trained_state(steps: int = 2):
    """A cpu-smoke state whose networks and both Adam states have moved (so nothing is at init)."""
    state = new_state(training_config("cpu-smoke"), run={"perceptual": "random", "note": "test"})
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
        loss = state.discriminator(x).mean()
        if state.component_discriminator is not None:
            loss = loss + state.component_discriminator(x[:, :, :16, :16]).mean()
        loss.backward()
        state.optimizer_d.step()
        state.optimizer_d.zero_grad()
        for p in state.generator.parameters():
            p.grad = torch.randn(p.shape, generator=g)
        state.optimizer_g.step()
        state.optimizer_g.zero_grad()
    with torch.no_grad():
        for p in state.generator_ema.parameters():
            p.mul_(0.5)
    state.progress.step = 7
    state.progress.samples = 14
    state.progress.skipped_g = 1
    state.progress.sampler = {"next_step": 7}
    return state


def _assert_same_modules(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _assert_same_optimizer(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys() and sa["state"]
    for i in sa["state"]:
        for key, value in sa["state"][i].items():
            assert torch.equal(value, sb["state"][i][key]), (i, key)


def test_save_and_load_restore_every_part(tmp_path):
    state = _trained_state()
    path = save_state(state, tmp_path / "run.safetensors")
    loaded = load_state(path)
    s = loaded.state
    assert s.config == state.config
    _assert_same_modules(s.generator, state.generator)
    _assert_same_modules(s.generator_ema, state.generator_ema)
    _assert_same_modules(s.discriminator, state.discriminator)
    _assert_same_modules(s.component_discriminator, state.component_discriminator)
    _assert_same_optimizer(s.optimizer_g, state.optimizer_g)
    _assert_same_optimizer(s.optimizer_d, state.optimizer_d)
    assert s.progress == state.progress
    assert s.run == {"perceptual": "random", "note": "test"}
    # G and G_ema are stored apart (G_ema was halved above)
    assert not torch.equal(next(s.generator.parameters()), next(s.generator_ema.parameters()))
    assert s.generator.training and all(p.requires_grad for p in s.generator.parameters())
    assert not any(p.requires_grad for p in s.generator_ema.parameters())


def test_the_file_is_a_plain_gafet_checkpoint_whose_generator_is_g_ema(tmp_path):
    state = _trained_state()
    path = save_state(state, tmp_path / "run.safetensors")
    header = verify_checkpoint(path)  # every part's digest
    assert header.parts == ("generator", "discriminator", "component_discriminator")
    assert header.extra["step"] == 7 and header.extra["created_by"] == "gafet train"
    json.dumps(header.extra)  # plain JSON metadata, no pickle anywhere
    loaded = load_checkpoint(path)
    _assert_same_modules(loaded.generator, state.generator_ema)


def test_studio_loaders_open_a_training_checkpoint_and_the_export(tmp_path):
    state = _trained_state()
    full = save_state(state, tmp_path / "run.safetensors")
    small = export_generator(state, tmp_path / "generator.safetensors")
    assert small.stat().st_size < full.stat().st_size / 2
    for path in (full, small):
        entry = inspect_checkpoint(path)
        assert entry.ok, entry.problem
        assert entry.preset == "tiny-64"
        editor = load_editor(path)
        _assert_same_modules(editor.engine.model, state.generator_ema)
        built = build_editor(EditorSpec.gafet(path, device="cpu"))
        assert built.resolution == 64
    assert is_training_checkpoint(full)
    assert not is_training_checkpoint(small)
    with pytest.raises(TrainingStateError, match="not a training checkpoint"):
        load_state(small)


def test_a_damaged_optimizer_state_is_detected(tmp_path):
    state = _trained_state()
    path = save_state(state, tmp_path / "run.safetensors")
    raw = bytearray(path.read_bytes())
    # flip one byte in the last tensor of the file's data section (an rng or optimiser tensor)
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointCorruptError):
        load_state(path)


def test_rng_snapshot_round_trip(tmp_path):
    state = _trained_state()
    torch.manual_seed(5)
    np.random.seed(6)
    random.seed(7)
    np.random.normal()  # leaves a cached Gaussian in numpy's state
    snap = capture_rng()
    expected = (torch.rand(3), np.random.rand(3), np.random.normal(), random.random())
    path = save_state(state, tmp_path / "run.safetensors", rng=[snap])
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    restore_rng(load_state(path).rng[0])
    again = (torch.rand(3), np.random.rand(3), np.random.normal(), random.random())
    assert torch.equal(expected[0], again[0])
    assert np.array_equal(expected[1], again[1])
    assert expected[2] == again[2] and expected[3] == again[3]


def test_checkpoint_folder_keeps_the_newest_and_skips_damaged_ones(tmp_path):
    state = _trained_state()
    folder = CheckpointFolder(tmp_path, keep=2)
    for step in (1, 2, 3):
        state.progress.step = step
        folder.save(state)
    assert [s for s, _ in folder.checkpoints()] == [2, 3]
    newest = folder.path_for(3)
    newest.write_bytes(newest.read_bytes()[:1000])  # a truncated file (e.g. a full disk, by hand)
    assert folder.latest() == folder.path_for(2)
    assert load_state(folder.latest()).state.progress.step == 2


def test_a_plain_model_checkpoint_is_not_resumable(tmp_path):
    state = _trained_state()
    path = save_checkpoint(tmp_path / "model.safetensors", state.exported_networks())
    assert read_header(path).extra == {}
    with pytest.raises(TrainingStateError):
        load_state(path)


_WRITER = """
import sys, torch
torch.set_num_threads(1)
from training.config import training_config
from training.state import CheckpointFolder, new_state
state = new_state(training_config("cpu-smoke"))
folder = CheckpointFolder(sys.argv[1], keep=2)
step = 0
while True:
    step += 1
    state.progress.step = step
    folder.save(state)
    print(step, flush=True)
"""


def test_kill_9_during_a_checkpoint_write_leaves_the_previous_checkpoint_loadable(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    ckpts = tmp_path / "checkpoints"
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "1"  # one complete checkpoint exists
        deadline = time.monotonic() + 60
        killed_mid_write = False
        while time.monotonic() < deadline:
            if any(p.name.endswith(".part") for p in ckpts.iterdir()):  # a write is in progress
                os.kill(proc.pid, signal.SIGKILL)
                killed_mid_write = True
                break
            time.sleep(0.001)
        assert killed_mid_write
    finally:
        proc.kill()
        proc.wait()
    folder = CheckpointFolder(tmp_path, keep=2)
    leftovers = folder.remove_partial_writes()
    assert leftovers, "the kill should have interrupted a write"
    latest = folder.latest()
    assert latest is not None
    loaded = load_state(latest)
    assert loaded.state.progress.step == max(s for s, _ in folder.checkpoints())
    assert not any(p.name.endswith(".part") for p in ckpts.iterdir())
