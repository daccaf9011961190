"""`gafet analyze` on real photos: landmarks, JSON, overlay, and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import EXIT_NO_FACE, EXIT_OUTPUT_EXISTS, EXIT_UNREADABLE
from gafet_studio.cli.main import main


def _json(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return json.loads(capsys.readouterr().out)


def test_portrait_and_group_json(media, app_assets, capsys: pytest.CaptureFixture[str]) -> None:
    photos = [str(media.path("happy.jpg")), str(media.path("multi_face.jpg"))]
    rc = main(["analyze", "--json", "--no-fit", *photos])
    assert rc == 0
    single, group = _json(capsys)
    assert (single["width"], single["height"]) == (512, 512)
    assert len(single["faces"]) == 1 and len(group["faces"]) == 5
    for face in single["faces"] + group["faces"]:
        assert len(face["landmarks"]) == 468 and all(len(p) == 3 for p in face["landmarks"])
        x0, y0, x1, y1 = face["box"]
        xs = [p[0] for p in face["landmarks"]]
        assert x0 - 20 < min(xs) and max(xs) < x1 + 20, "landmarks lie on the detected face"
    assert {"load_ms", "detect_and_mesh_ms"} <= set(single["timings_ms"])


def test_text_output_lists_every_landmark(media, app_assets, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--no-fit", "--landmarks", str(media.path("surprise.jpg"))]) == 0
    out = capsys.readouterr().out
    assert "1 face(s)" in out and " 467: " in out and "score" in out


def test_default_text_is_a_short_summary_per_face(media, app_assets, capsys) -> None:
    assert main(["analyze", str(media.path("surprise.jpg"))]) == 0
    out = capsys.readouterr().out
    assert "face 0: box" in out and "pose: yaw" in out and "strongest AUs: AU26" in out
    assert "landmarks" not in out and " 467: " not in out
    assert len(out.splitlines()) <= 5, out


def test_json_no_face_says_so_on_stderr(media, app_assets, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--json", "--no-fit", str(media.path("no_face.jpg"))]) == EXIT_NO_FACE
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["faces"] == []
    assert "No face was found in 'no_face.jpg'" in captured.err


def test_no_face_exit_code(media, app_assets, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--json", "--no-fit", str(media.path("no_face.jpg"))]) == EXIT_NO_FACE
    assert _json(capsys)[0]["faces"] == []


def test_unreadable_file_exit_code(tmp_path: Path, media, app_assets, capsys) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_text("this is not a photo")
    rc = main(["analyze", "--json", "--no-fit", str(bad), str(media.path("no_face.jpg"))])
    assert rc == EXIT_UNREADABLE, "an unreadable file wins over a face-less one"
    reports = _json(capsys)
    assert "not an image" in reports[0]["error"] and reports[1]["faces"] == []


def test_overlay_written_and_not_overwritten(tmp_path: Path, media, app_assets, capsys) -> None:
    out = tmp_path / "overlay.png"
    assert main(["analyze", "--no-fit", "--overlay", str(out), str(media.path("anger.jpg"))]) == 0
    from core.io import load_photo

    ov, src = load_photo(out), load_photo(media.path("anger.jpg"))
    assert ov.size == src.size and (ov.rgb != src.rgb).any()
    again = main(["analyze", "--no-fit", "--overlay", str(out), str(media.path("anger.jpg"))])
    assert again == EXIT_OUTPUT_EXISTS


def test_fitted_aus_and_pose_reported(media, app_assets, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--json", str(media.path("surprise.jpg")), str(media.path("disgust.jpg"))]) == 0
    surprise, turned = _json(capsys)
    fit = surprise["faces"][0]["fit"]
    assert len(fit["aus"]) == 20 and fit["aus"]["AU26"] > 0.6, "open-mouth surprise reads as jaw drop"
    assert abs(fit["pose"]["yaw_deg"]) < 15
    assert abs(turned["faces"][0]["fit"]["pose"]["yaw_deg"]) > 25, "the 45-degree photo reads as turned"
