"""The training loop's machinery (stand-in data and objective, tests/helpers/training.py): exact
resume, the non-finite guard, stop requests, the time budget, events and their order."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from tests.helpers.training import StandInData, StandInObjective
from training.config import R1Config, training_config
from training.distributed import local_context
from training.loop import (
    CheckpointSaved,
    LoopSettings,
    RunStarted,
    StepDone,
    StopFlag,
    Stopped,
    train,
)
from training.state import CheckpointFolder, TrainingState, load_state, new_state, restore_rng

CTX = local_context("cpu")


def _config(**changes):
    # R1 every 2nd step, so both kinds of D step happen before and after the resume point
    return dataclasses.replace(training_config("cpu-smoke"), r1=R1Config(gamma=1.0, interval=2), **changes)


def _run(state: TrainingState, run_dir, *, steps: int, objective=None, **settings):
    settings = LoopSettings(max_steps=steps, checkpoint_minutes=None, **settings)
    return list(train(state, StandInData(state.config), objective or StandInObjective(), ctx=CTX,
                      run_dir=run_dir, settings=settings))


def _modules(state: TrainingState) -> dict[str, torch.nn.Module]:
    return {"G": state.generator, "G_ema": state.generator_ema, "D": state.discriminator,
            "D_comp": state.component_discriminator}


def _max_difference(a: TrainingState, b: TrainingState, *, optimizers: bool = True) -> float:
    worst = 0.0
    for name, module in _modules(a).items():
        for x, y in zip(module.state_dict().values(), _modules(b)[name].state_dict().values(), strict=True):
            worst = max(worst, float((x - y).abs().max()))
    for oa, ob in ((a.optimizer_g, b.optimizer_g), (a.optimizer_d, b.optimizer_d)) if optimizers else ():
        sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
        assert sa.keys() == sb.keys()
        for i in sa:
            for key in sa[i]:
                worst = max(worst, float((sa[i][key] - sb[i][key]).abs().max()))
    return worst


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    n = 2
    straight = new_state(_config())
    events = _run(straight, tmp_path / "straight", steps=2 * n)
    assert [e.r1 for e in events if isinstance(e, StepDone)] == [True, False] * n

    first = new_state(_config())
    _run(first, tmp_path / "resumed", steps=n)
    del first  # the process is gone: only the checkpoint remains
    path = CheckpointFolder(tmp_path / "resumed").latest()
    assert path is not None and path.name == f"step-{n:08d}.safetensors"
    loaded = load_state(path)
    torch.manual_seed(12345)  # a fresh process starts from other RNG states
    restore_rng(loaded.rng[0])
    resumed = loaded.state
    events = list(train(resumed, StandInData(resumed.config), StandInObjective(), ctx=CTX,
                        run_dir=tmp_path / "resumed", resumed_from=path,
                        settings=LoopSettings(max_steps=2 * n, checkpoint_minutes=None)))
    assert isinstance(events[0], RunStarted) and events[0].step == n and events[0].resumed_from == path
    assert [e.step for e in events if isinstance(e, StepDone)] == list(range(n + 1, 2 * n + 1))
    assert resumed.progress.step == straight.progress.step == 2 * n
    assert resumed.progress.samples == straight.progress.samples
    difference = _max_difference(straight, resumed)
    print(f"largest difference after resume: {difference:.3g}")
    assert difference <= 1e-6
    assert _max_difference(straight, new_state(_config()), optimizers=False) > 1e-3  # it can fail


def test_non_finite_gradients_skip_the_update_and_are_counted(tmp_path):
    state = new_state(_config())
    events = iter(train(state, StandInData(state.config), StandInObjective(nan_at=[1]), ctx=CTX,
                        run_dir=tmp_path, settings=LoopSettings(max_steps=3, checkpoint_minutes=None)))
    assert isinstance(next(events), RunStarted)
    first = next(events)
    assert isinstance(first, StepDone) and not first.skipped_g
    before = [p.detach().clone() for p in state.generator.parameters()]
    adam_before = {k: v["exp_avg_sq"].clone() for k, v in state.optimizer_g.state_dict()["state"].items()}
    second = next(events)
    assert isinstance(second, StepDone)
    assert second.skipped_g and not second.skipped_d and second.skipped_total == 1
    assert second.generator["g/total"] != second.generator["g/total"]  # NaN, reported as such
    assert all(torch.equal(a, b) for a, b in zip(before, state.generator.parameters(), strict=True))
    adam_after = state.optimizer_g.state_dict()["state"]
    assert all(torch.equal(adam_before[k], adam_after[k]["exp_avg_sq"]) for k in adam_before)
    rest = list(events)
    third = next(e for e in rest if isinstance(e, StepDone))
    assert not third.skipped_g and third.skipped_total == 1
    assert all(torch.isfinite(p).all() for p in state.generator.parameters())
    assert state.progress.skipped_g == 1
    assert load_state(CheckpointFolder(tmp_path).latest()).state.progress.skipped_g == 1


def test_a_stop_request_saves_a_checkpoint_and_ends_the_run(tmp_path):
    state = new_state(_config())
    stop = StopFlag()
    seen = []
    for event in train(state, StandInData(state.config), StandInObjective(), ctx=CTX, run_dir=tmp_path,
                       stop=stop, settings=LoopSettings(checkpoint_every=100, checkpoint_minutes=None)):
        seen.append(event)
        if isinstance(event, StepDone) and event.step == 2:
            stop.request("signal")
    kinds = [type(e) for e in seen]
    assert kinds == [RunStarted, StepDone, StepDone, CheckpointSaved, Stopped]
    assert seen[-1].reason == "signal" and seen[-1].step == 2
    assert seen[-1].checkpoint == CheckpointFolder(tmp_path).path_for(2)
    assert (tmp_path / "generator.safetensors").is_file()
    assert load_state(seen[-1].checkpoint).state.progress.step == 2


def test_the_time_budget_stops_the_run(tmp_path):
    state = new_state(_config())
    ticks = itertools.count()
    clock = lambda: 25.0 * next(ticks)  # noqa: E731 - each reading of the clock advances it 25 s
    events = list(train(state, StandInData(state.config), StandInObjective(), ctx=CTX, run_dir=tmp_path,
                        clock=clock, settings=LoopSettings(max_minutes=1.0, checkpoint_minutes=None)))
    stopped = events[-1]
    assert isinstance(stopped, Stopped) and stopped.reason == "time_budget"
    assert 1 <= stopped.step < 5
    assert isinstance(events[-2], CheckpointSaved) and events[-2].step == stopped.step


def test_periodic_checkpoints_keep_the_newest(tmp_path):
    state = new_state(_config())
    events = _run(state, tmp_path, steps=5, checkpoint_every=2, keep_checkpoints=2)
    saved = [e.step for e in events if isinstance(e, CheckpointSaved)]
    assert saved == [2, 4, 5]
    assert [s for s, _ in CheckpointFolder(tmp_path).checkpoints()] == [4, 5]


def test_resuming_a_finished_run_does_no_step_and_writes_nothing(tmp_path):
    state = new_state(_config())
    _run(state, tmp_path, steps=2)
    path = CheckpointFolder(tmp_path).latest()
    mtime = path.stat().st_mtime_ns
    loaded = load_state(path).state
    events = list(train(loaded, StandInData(loaded.config), StandInObjective(), ctx=CTX, run_dir=tmp_path,
                        resumed_from=path, settings=LoopSettings(max_steps=2)))
    assert [type(e) for e in events] == [RunStarted, Stopped]
    assert events[-1].checkpoint == path and path.stat().st_mtime_ns == mtime


def test_settings_are_checked():
    with pytest.raises(Exception, match="max-minutes"):
        LoopSettings(max_minutes=0)
    with pytest.raises(Exception, match="max-steps"):
        LoopSettings(max_steps=-1)
