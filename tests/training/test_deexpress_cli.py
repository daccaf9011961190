"""``gafet deexpress train`` and ``apply`` end to end on CPU (a tiny network, a synthetic cache,
real photos for apply)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.io import load_photo
from gafet_studio.cli.main import main
from tests.training.deexpress_helpers import write_synthetic_cache
from training.deexpress.config import DeexpressLoss, config_to_dict, deexpress_config


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dx_cli")
    cache = write_synthetic_cache(root / "cache", faces=4)
    run = root / "run"
    cfg = deexpress_config("tiny-32")  # without LPIPS (its VGG-16 takes seconds to build; tested elsewhere)
    config = root / "tiny-l1.json"
    config.write_text(json.dumps(config_to_dict(cfg.replace(loss=DeexpressLoss(lpips=0.0)))))
    code = main(["deexpress", "train", "--config", str(config), "--data", str(cache), "--run-dir", str(run),
                 "--max-steps", "2", "--perceptual", "random", "--no-progress", "--no-tensorboard",
                 "--log-every", "1"])
    assert code == 0
    return run


def test_train_writes_a_resumable_run(trained: Path, tmp_path: Path) -> None:
    assert (trained / "deexpress.safetensors").is_file()
    assert (trained / "checkpoints" / "step-00000002.safetensors").is_file()
    assert len((trained / "metrics.jsonl").read_text().splitlines()) == 2
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    cache = write_synthetic_cache(tmp_path / "cache", faces=4)
    assert main(["deexpress", "train", "--data", str(cache), "--run-dir", str(run), "--resume", "--max-steps",
                 "3", "--no-progress", "--no-tensorboard"]) == 0
    assert (run / "checkpoints" / "step-00000003.safetensors").is_file()
    # a new run into a folder that holds one is refused
    assert main(["deexpress", "train", "--config", "tiny-32", "--data", str(cache), "--run-dir", str(run),
                 "--perceptual", "random", "--no-progress"]) != 0


def test_apply_writes_full_size_and_never_touches_the_input(trained: Path, tmp_path: Path, media: object,
                                                          app_assets: None) -> None:
    photos = tmp_path / "in"
    photos.mkdir()
    for name in ("happy.jpg", "no_face.jpg"):
        shutil.copyfile(media.path(name), photos / name)  # type: ignore[attr-defined]
    before = {p.name: _sha(p) for p in photos.iterdir()}
    out = tmp_path / "out"
    code = main(["deexpress", "apply", "--model", str(trained / "deexpress.safetensors"),
                 str(photos / "happy.jpg"), str(photos / "no_face.jpg"), "-o", str(out)])
    assert code == 0
    assert {p.name: _sha(p) for p in photos.iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == ["happy.jpg"]
    src, res = load_photo(photos / "happy.jpg").rgb, load_photo(out / "happy.jpg").rgb
    assert res.shape == src.shape
    assert float(np.abs(res.astype(float) - src.astype(float)).mean()) < 8.0  # JPEG re-encode + a small edit
    # writing onto the input itself is refused
    assert main(["deexpress", "apply", "--model", str(trained / "deexpress.safetensors"),
                 str(photos / "happy.jpg"), "-o", str(photos), "--overwrite"]) != 0
    assert {p.name: _sha(p) for p in photos.iterdir()} == before
