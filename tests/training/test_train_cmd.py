"""``gafet train`` end to end on a real face cache (tests/training/conftest.py: lab photos and both
videos at 64²): every loss term finite and logged, the checkpoint opens in the Studio and edits a
real photo, SIGTERM saves and exits 0, --resume continues, and the refusals and their exit codes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.editing.gafet.registry import inspect_checkpoint
from core.editing.spec import EditorSpec, build_editor
from core.errors import EXIT_ASSET, EXIT_ERROR, EXIT_OUTPUT_EXISTS
from core.io import load_photo
from core.nets.checkpoint import read_header
from gafet_studio.cli.main import main
from tests.training.conftest import PreparedFaceCache
from training.state import CheckpointFolder, load_state

ROOT = Path(__file__).resolve().parents[2]

# every term the full objective computes; the reconstruction terms exist on pseudo-pair steps only
G_TERMS = ("g/adv_comp", "g/adv_global", "g/cx", "g/exp_au", "g/exp_shape", "g/total")
G_PAIRED = ("g/rec", "g/rec_l1", "g/rec_lpips")
D_TERMS = ("d/adv_comp", "d/adv_global", "d/fake_logit", "d/real_logit", "d/total")
D_R1 = ("d/r1_comp", "d/r1_global")


def _train(cache: Path, run_dir: Path, *extra: str) -> int:
    return main(["train", "--config", "cpu-smoke", "--data", str(cache), "--run-dir", str(run_dir),
                 "--no-progress", *extra])


@pytest.fixture(scope="module")
def trained_run(face_cache: PreparedFaceCache, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three CPU steps of cpu-smoke with every loss on (random VGGs), evaluated and previewed at step 3."""
    run_dir = tmp_path_factory.mktemp("train") / "run"
    code = _train(face_cache.root, run_dir, "--max-steps", "3", "--perceptual", "random",
                  "--eval-every", "3", "--preview-every", "3")
    assert code == 0
    return run_dir


def test_three_steps_on_real_faces_log_every_loss_term_finite(trained_run: Path) -> None:
    lines = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3]
    assert [r["kind"] for r in lines] == ["paired", "unpaired", "paired"]
    for r in lines:
        expected = set(G_TERMS) | set(D_TERMS) | (set(G_PAIRED) if r["kind"] == "paired" else set())
        expected |= set(D_R1) if r["r1"] else set()
        assert {k for k in r if k.startswith(("g/", "d/"))} == expected
        assert all(isinstance(r[k], float) and math.isfinite(r[k]) for k in expected), r
        assert r["skipped_total"] == 0 and r["samples_per_s"] > 0
    assert lines[0]["r1"] and not lines[1]["r1"]
    evaluation = json.loads((trained_run / "evaluation.jsonl").read_text())
    assert evaluation["step"] == 3
    for key, (low, high) in {"l1": (0, 1), "ssim": (-1, 1), "aed": (0, 1), "au_h": (0, 1)}.items():
        assert low <= evaluation[key] <= high
    events = list((trained_run / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    data = events[0].read_bytes()
    assert b"g/cx" in data and b"d/r1_comp" in data and b"preview/" in data


def test_random_perceptual_is_recorded_in_the_checkpoint(trained_run: Path) -> None:
    path = CheckpointFolder(trained_run).latest()
    assert path is not None
    run = read_header(path).extra["training"]["run"]
    assert run["perceptual"] == "random" and run["perceptual_random"] is True
    assert load_state(path).state.config.perceptual == "random"
    exported = read_header(trained_run / "generator.safetensors").extra
    assert exported["run"]["perceptual_random"] is True
    info = json.loads((trained_run / "run.json").read_text())
    assert info["run"]["perceptual_random"] is True


def test_the_checkpoint_opens_in_the_studio_and_edits_a_real_photo(trained_run: Path, tmp_path: Path,
                                                                  media: object) -> None:
    path = CheckpointFolder(trained_run).latest()
    assert inspect_checkpoint(path).ok
    editor = build_editor(EditorSpec.gafet(path, device="cpu"))
    assert editor.resolution == 64
    source = media.path("anger.jpg")
    out = tmp_path / "edited.png"
    assert main(["edit", "--source", str(source), "--reference", str(media.path("surprise.jpg")),
                 "--model", str(path), "--device", "cpu", "--crop-size", "128", "-o", str(out)]) == 0
    original = load_photo(source).rgb.astype(int)
    edited = load_photo(out).rgb.astype(int)
    assert edited.shape == original.shape
    assert np.abs(edited[200:330, 180:330] - original[200:330, 180:330]).mean() > 1  # the face changed
    assert np.array_equal(edited[:40, :40], original[:40, :40])  # far from the face: untouched


def test_missing_vgg_weights_stop_before_step_1(face_cache: PreparedFaceCache, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GAFET_HOME", str(tmp_path / "empty-home"))  # no imported weights there
    run_dir = tmp_path / "run"
    assert _train(face_cache.root, run_dir, "--max-steps", "1") == EXIT_ASSET
    err = capsys.readouterr().err
    assert "vgg16-397923af.pth" in err and "vgg19-dcbb9e9d.pth" in err
    assert "gafet assets import-weights vgg16" in err and "--perceptual random" in err
    assert "Traceback" not in err
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.jsonl").exists()


def test_refusals_have_their_exit_codes(face_cache: PreparedFaceCache, trained_run: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(face_cache.root, trained_run, "--max-steps", "1") == EXIT_OUTPUT_EXISTS
    assert "--resume" in capsys.readouterr().err
    assert _train(face_cache.root, tmp_path / "nothing", "--resume") == EXIT_ERROR
    assert "no checkpoint to resume" in capsys.readouterr().err
    code = _train(face_cache.root, trained_run, "--resume", "--seed", "5", "--max-steps", "9")
    assert code == EXIT_ERROR
    assert "seed: 0 != 5" in capsys.readouterr().err


def test_sigterm_saves_a_checkpoint_and_exits_0_then_resume_continues(face_cache: PreparedFaceCache,
                                                                      tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "training", "--config", "cpu-smoke", "--data", str(face_cache.root),
           "--run-dir", str(run_dir), "--perceptual", "random", "--max-steps", "1000", "--no-progress",
           "--no-tensorboard"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = run_dir / "metrics.jsonl"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if metrics.is_file() and metrics.read_text().count("\n") >= 1:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "stopped at step" in err.lower() and "signal" in err
    steps_logged = len(metrics.read_text().splitlines())
    path = CheckpointFolder(run_dir).latest()
    assert path is not None
    saved = load_state(path).state.progress.step
    assert saved == steps_logged >= 1

    assert main(["train", "--data", str(face_cache.root), "--run-dir", str(run_dir), "--resume",
                 "--max-steps", str(saved + 1), "--no-progress", "--no-tensorboard"]) == 0
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, saved + 2))
    resumed = load_state(CheckpointFolder(run_dir).latest()).state
    assert resumed.progress.step == saved + 1

    # the same steps without the interruption: the same weights (real data, the full objective)
    straight_dir = tmp_path / "straight"
    assert main(["train", "--config", "cpu-smoke", "--data", str(face_cache.root), "--run-dir",
                 str(straight_dir), "--perceptual", "random", "--max-steps", str(saved + 1), "--no-progress",
                 "--no-tensorboard"]) == 0
    straight = load_state(CheckpointFolder(straight_dir).latest()).state
    worst = 0.0
    for a, b in ((straight.generator, resumed.generator), (straight.generator_ema, resumed.generator_ema),
                 (straight.discriminator, resumed.discriminator)):
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
            worst = max(worst, float((x - y).abs().max()))
    assert worst <= 1e-6, worst
