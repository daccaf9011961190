"""``gafet geometry``: end to end on two real photos (and with a preset)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from gafet_studio.cli.main import main


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_geometry_command_writes_renders_flow_meshes_and_summary(media, app_assets, tmp_path, capsys):
    out = tmp_path / "geo"
    rc = main(["geometry", str(media.path("happy.jpg")), str(media.path("surprise.jpg")), "-o", str(out),
               "--alpha", "1.0"])
    assert rc == 0
    for name in ("source", "reference", "target"):
        shaded, normals = _png(out / f"{name}_shaded.png"), _png(out / f"{name}_normals.png")
        assert shaded.shape == normals.shape == (512, 512, 3)
        covered = shaded.max(axis=2) > 0
        assert 0.1 < covered.mean() < 0.6  # a face-sized silhouette on black
        obj = (out / f"{name}.obj").read_text().splitlines()
        assert sum(line.startswith("v ") for line in obj) == 468
        assert sum(line.startswith("f ") for line in obj) == 898
    src, tgt = _png(out / "source_shaded.png"), _png(out / "target_shaded.png")
    assert np.abs(src.astype(int) - tgt.astype(int)).mean() > 1.0  # the expression changed
    flow = _png(out / "flow.png")
    assert flow.shape == (512, 512, 3) and flow.max() == 255
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"]["aus"] == summary["reference"]["aus"]
    assert summary["target"]["pose"] == summary["source"]["pose"]
    assert summary["max_flow_px"] > 5
    assert str(out / "flow.png") in capsys.readouterr().out


def test_geometry_command_with_a_preset_and_overrides(media, app_assets, tmp_path):
    out = tmp_path / "geo"
    rc = main(["geometry", str(media.path("anger.jpg")), "--preset", "happy", "--au", "AU26=0.4",
               "--region", "brows=0", "--alpha", "0.5", "-o", str(out)])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"]["aus"]["AU12"] == 1.0 and summary["target"]["aus"]["AU26"] == 0.4
    assert summary["regions"] == {"brows": 0.0} and summary["alpha"] == 0.5
    assert not (out / "reference.obj").exists()


def test_geometry_command_reports_bad_arguments(media, tmp_path, capsys):
    src = str(media.path("happy.jpg"))
    assert main(["geometry", src, "-o", str(tmp_path)]) == 1
    assert "REFERENCE photo or --preset" in capsys.readouterr().err
    assert main(["geometry", src, "--preset", "happy", "--alpha", "2", "-o", str(tmp_path)]) == 1
    assert "alpha" in capsys.readouterr().err
    assert main(["geometry", src, "--preset", "happy", "--au", "AU12", "-o", str(tmp_path)]) == 1
    assert "NAME=NUMBER" in capsys.readouterr().err
    assert main(["geometry", src, "--preset", "grumpy", "-o", str(tmp_path)]) == 1
    assert "grumpy" in capsys.readouterr().err
