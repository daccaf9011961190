"""``gafet drive`` end to end on a real clip: the MP4 (frames, rate, size, audio), PNG stills,
refusals, and SIGTERM mid-encode leaving no file at the output path."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from gafet_studio.cli.main import main
from tests.core.driving.clips import audio_seconds, video_stats

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def inputs(tmp_path: Path, media, app_assets: None) -> tuple[Path, Path]:
    src, drv = tmp_path / "happy.jpg", tmp_path / "clip.mp4"
    shutil.copy(media.path("happy.jpg"), src)
    shutil.copy(media.path("neutral_to_smile.mp4"), drv)
    return src, drv


def test_drive_writes_an_mp4_with_the_clips_frames_rate_size_and_audio(
        tmp_path: Path, inputs, capsys: pytest.CaptureFixture[str]) -> None:
    src, drv = inputs
    out = tmp_path / "out.mp4"
    args = ["drive", "-s", str(src), "-d", str(drv), "--end", "0.5", "--crop-size", "96", "-o", str(out)]
    assert main(args) == 0
    n, rate, size = video_stats(out)
    assert (n, rate, size) == (15, Fraction(30), (512, 512))  # 0.5 s at 30 fps; happy.jpg is 512 x 512
    assert audio_seconds(out) == pytest.approx(0.5, abs=0.08)  # the clip's MP3 track, copied
    err = capsys.readouterr().err
    assert "15 frames" in err and "lost in 0 frame(s)" in err and "ms per frame" in err
    assert main(args) == 4  # exists; no --overwrite
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_still_frames_and_bad_options(tmp_path: Path, inputs, capsys: pytest.CaptureFixture[str]) -> None:
    src, drv = inputs
    folder = tmp_path / "frames"
    common = ["drive", "-s", str(src), "-d", str(drv), "--crop-size", "64"]
    args = ["--start", "1", "--end", "1.2", "--fps", "15", "--neutral-frame", "33",
            "--still-frames", str(folder)]
    assert main([*common, *args]) == 0
    assert "neutral: driving frame 32" in capsys.readouterr().err  # frames 30, 32, 34 at 15 fps
    assert sorted(p.name for p in folder.iterdir()) == ["frame_000000.png", "frame_000001.png",
                                                        "frame_000002.png"]
    assert main([*common, "--smooth", "5", "-o", str(tmp_path / "a.mp4")]) == 1
    assert main([*common, "--end", "0.2", "--neutral-frame", "40", "-o", str(tmp_path / "a.mp4")]) == 1
    assert main([*common, "--start", "9", "-o", str(tmp_path / "a.mp4")]) == 1
    assert main([*common, "-o", str(tmp_path / "a.avi")]) == 1
    assert main([*common, "--driving-face", "3", "-o", str(tmp_path / "a.mp4")]) == 3
    assert "--driving-face 3 does not exist" in capsys.readouterr().err
    assert not (tmp_path / "a.mp4").exists()


def test_help_says_source_video_is_out_of_scope(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["drive", "--help"])
    assert "out of scope" in " ".join(capsys.readouterr().out.split())


@pytest.mark.slow  # a fresh interpreter loads torch and the face networks first
def test_sigterm_mid_encode_leaves_no_file(tmp_path: Path, inputs) -> None:
    src, drv = inputs
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "gafet_studio.cli.main", "drive", "-s", str(src), "-d", str(drv),
           "--end", "0.5", "--crop-size", "64", "-o", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not list(tmp_path.glob(".out.mp4.*")):  # the encoder's temporary file: encoding started
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the encode never started"
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "terminated" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.mp4*"))  # the temporary file is gone too
