from __future__ import annotations

import pytest

from gafet_studio.cli.main import main


def test_list_and_verify(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assets", "list"]) == 0
    out = capsys.readouterr().out
    assert "face-mesh" in out and "licence:" in out
    assert main(["assets", "verify", "face-mesh"]) == 0
    assert "face-mesh: ok" in capsys.readouterr().out


def test_path_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assets", "path", "face-mesh", "face_landmark.tflite"]) == 0
    assert capsys.readouterr().out.strip().endswith("face_landmark.tflite")
    assert main(["assets", "path", "nope"]) == 5
    assert "Unknown asset 'nope'" in capsys.readouterr().err


def test_main_py_dispatches_to_cli(capsys: pytest.CaptureFixture[str]) -> None:
    import main as entry

    assert entry.main(["assets", "path", "face-mesh"]) == 0
    assert capsys.readouterr().out.strip().endswith("face-mesh")
