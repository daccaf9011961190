"""The command line answers --help, bad options and bad inputs without importing torch.

Each check runs in a fresh interpreter (this test process has torch loaded already) and reads
``sys.modules`` afterwards; wall-clock figures live in benchmarks/bench_cli.py, not here.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from gafet_studio.cli.main import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "cv2", "mediapipe", "training", "core.face.analyzer", "core.editing.pipeline")
# Commands whose module and --help must stay light (prepare's options live in training.data.prepare).
LIGHT_COMMANDS = ("analyze", "geometry", "edit", "batch", "evaluate", "model", "drive", "assets")
# Commands whose options live in the training package: their --help may import its light modules
# (training.cli, training.config), never torch.
TRAINING_COMMANDS = ("train", "deexpress")
RST = re.compile(r"``|:(class|func|mod|meth|data|attr|ref):`|^\s*\.\. \w", re.MULTILINE)


def _run_calls(calls: list[list[str]], tmp_path: Path) -> dict:
    """Run gafet.main on each argv in one fresh interpreter; returns {"codes": [...], "heavy": [...],
    "peak_rss_mb": ..., "stderr": [...]}."""
    script = tmp_path / "calls.py"
    script.write_text(
        "import contextlib, io, json, sys\n"
        "from gafet_studio.cli.main import main\n"
        f"calls = {calls!r}\n"
        "codes, errs = [], []\n"
        "for argv in calls:\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):\n"
        "        try:\n"
        "            codes.append(main(argv))\n"
        "        except SystemExit as exc:\n"
        "            codes.append(exc.code)\n"
        "    errs.append(err.getvalue())\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})\n"
        # VmHWM, not ru_maxrss: the latter survives exec and would report the forking pytest's peak
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "rss = int(hwm[0].split()[1]) / 1024 if hwm else 0.0\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy, 'peak_rss_mb': rss, 'stderr': errs}))\n"
    )
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture()
def small_png(tmp_path: Path) -> Path:
    path = tmp_path / "small.png"
    Image.new("RGB", (64, 48), (120, 90, 80)).save(path)
    return path


def test_help_imports_no_torch(tmp_path: Path) -> None:
    calls = [["--help"]] + [[name, "--help"] for name in LIGHT_COMMANDS] + [["edit"], ["nonsense"]]
    result = _run_calls(calls, tmp_path)
    assert result["codes"] == [0] * (1 + len(LIGHT_COMMANDS)) + [2, 2]  # argparse's own errors: 2
    assert "required" in result["stderr"][-2] and "invalid choice" in result["stderr"][-1]
    assert result["heavy"] == [], "--help and argument errors must not import these"


def test_training_commands_help_imports_no_torch(tmp_path: Path) -> None:
    result = _run_calls([[name, "--help"] for name in TRAINING_COMMANDS], tmp_path)
    assert result["codes"] == [0] * len(TRAINING_COMMANDS)
    assert [m for m in result["heavy"] if m.split(".")[0] in ("torch", "cv2")] == []


def test_refusals_import_no_torch(tmp_path: Path, small_png: Path) -> None:
    missing, out = str(tmp_path / "missing.jpg"), str(tmp_path / "out.png")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    folder = tmp_path / "photos"
    folder.mkdir()
    src = str(small_png)
    calls = [
        ["edit", "-s", missing, "--preset", "happy", "-o", out],
        ["edit", "-s", str(text), "--preset", "happy", "-o", out],
        ["edit", "-s", src, "--preset", "happy", "--alpha", "3", "-o", out],
        ["edit", "-s", src, "--preset", "happy", "--face", "-1", "-o", out],
        ["edit", "-s", src, "--preset", "happy", "--crop-size", "10", "-o", out],
        ["edit", "-s", src, "-r", missing, "-o", out],
        ["edit", "-s", src, "--preset", "grumpy", "-o", out],
        ["edit", "-s", src, "--preset", "happy", "-o", str(tmp_path / "nowhere" / "o.png")],
        ["batch", str(folder), "--preset", "happy", "--alpha", "-1", "-o", str(tmp_path / "b")],
        ["batch", str(folder), "--preset", "happy", "-o", str(tmp_path / "b")],
        ["analyze", missing, str(text)],
        ["geometry", missing, "-o", str(tmp_path / "g")],
        ["geometry", src, "--alpha", "2", "-o", str(tmp_path / "g")],
        ["geometry", src, "-o", str(full)],
    ]
    result = _run_calls(calls, tmp_path)
    assert result["codes"] == [2, 2, 1, 1, 1, 2, 1, 1, 1, 1, 2, 2, 1, 4], result["stderr"]
    needles = ["missing.jpg' does not exist", "notes.jpg' is not an image", "between 0 and 1.5",
               "--face must be 0 or more", "--crop-size must be between 64", "missing.jpg",
               "grumpy", "does not exist", "between 0 and 1.5", "has no files", "missing.jpg",
               "missing.jpg", "--alpha must be between 0 and 1.5", "already exists and holds files"]
    for needle, err in zip(needles, result["stderr"], strict=True):
        assert needle in err and "Traceback" not in err, err
    assert result["heavy"] == [], "a refused call must not load torch or a network"
    assert result["peak_rss_mb"] < 150, result["peak_rss_mb"]


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _all_parsers(child)
    return found


def test_every_help_is_plain_text_and_matches_the_command_table() -> None:
    full = build_parser()  # every sub-command registered for real
    table = {name: summary for name, _, summary in COMMANDS}
    registered = {a.dest: a.help for a in _subparsers(full)._choices_actions}
    assert registered == table, "every command shows the one-line help of main.COMMANDS"
    lazy = {a.dest: a.help for a in _subparsers(build_parser(""))._choices_actions}
    assert lazy == table, "gafet --help (no command module imported) lists the same"
    for parser in _all_parsers(full):
        text = parser.format_help()
        bad = [m.group(0) for m in RST.finditer(text)]
        assert not bad, f"{parser.prog} --help shows reStructuredText {bad}:\n{text}"
