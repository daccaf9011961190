"""``gafet geometry``: end to end on two real photos (and with a preset)."""

from __future__ import annotations

import json
import os
import stat

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
    assert main(["geometry", src, src, "--preset", "happy", "-o", str(tmp_path)]) == 1
    assert "REFERENCE photo or --preset, not both" in capsys.readouterr().err
    assert main(["geometry", src, "--preset", "happy", "--alpha", "2", "-o", str(tmp_path)]) == 1
    assert "alpha" in capsys.readouterr().err
    assert main(["geometry", src, "--preset", "happy", "--au", "AU12", "-o", str(tmp_path)]) == 1
    assert "NAME=NUMBER" in capsys.readouterr().err
    assert main(["geometry", src, "--preset", "grumpy", "-o", str(tmp_path)]) == 1
    assert "grumpy" in capsys.readouterr().err


def test_geometry_without_reference_and_its_output_folder_rules(media, app_assets, tmp_path, capsys):
    """README: `gafet geometry SOURCE -o DIR` alone writes the source's own geometry; a second run
    into the same folder is refused (exit 4) without --overwrite; files get a new file's usual mode."""
    out = tmp_path / "geo"
    assert main(["geometry", str(media.path("happy.jpg")), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["source_shaded.png", "source_normals.png", "source.obj", "target_shaded.png",
                            "target_normals.png", "target.obj", "flow.png", "summary.json"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"]["aus"] == summary["source"]["aus"] and summary["max_flow_px"] == 0
    umask = os.umask(0)
    os.umask(umask)
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
    capsys.readouterr()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["geometry", str(media.path("happy.jpg")), "-o", str(out)]) == 4
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_geometry_no_face_names_the_file(media, app_assets, tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["geometry", str(media.path("no_face.jpg")), "--preset", "happy", "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "No face was found in" in err and "no_face.jpg" in err
