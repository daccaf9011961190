"""Start-up and refusal cost of the ``gafet`` command line, against a bare interpreter.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cli.py [--repeats 5] [--no-stages]

Prints, each a median over ``--repeats`` fresh processes (wall seconds including process start;
peak RSS = the child's VmHWM, written by the child at exit: ``ru_maxrss`` would carry over the
forking parent's peak across exec):

    baseline_python_s   median=…  (python -c pass: the floor every call pays)
    help_s              median=…  rss_mb=…   gafet --help
    argument_error_s    median=…  rss_mb=…   gafet edit ... --alpha 3 (refused before torch)
    refusal_missing_s   median=…  rss_mb=…   gafet edit -s missing.jpg (refused before torch)
    edit_640x360_s      median=…  rss_mb=…   gafet edit on a 640x360 photo with a preset, warp editor

and then (unless ``--no-stages``) one in-process breakdown of that edit by stage (import torch,
import the pipeline, load the face networks, decode, analyse, render, save), which shows what
dominates. Targets (issue 13): help and argument errors <= 0.5 s; the edit <= 3 s; a refusal well
under 200 MB. The load average is printed first: on the shared 2-core machine, figures taken
under load are proportionally slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# Runs `gafet ARGS...` like the console script does, and writes its VmHWM (kB) to $BENCH_HWM at exit.
GAFET = (
    "import atexit, os, sys\n"
    "def _hwm():\n"
    "    with open('/proc/self/status') as f, open(os.environ['BENCH_HWM'], 'w') as out:\n"
    "        out.write(next(l.split()[1] for l in f if l.startswith('VmHWM:')))\n"
    "atexit.register(_hwm)\n"
    "from gafet_studio.cli.main import main\n"
    "sys.exit(main())\n"
)


def _run(argv: list[str]) -> tuple[float, float, int]:
    """(wall s, peak RSS MB or 0 when not reported, exit code) of one child process."""
    with tempfile.NamedTemporaryFile(suffix=".hwm") as hwm:
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", BENCH_HWM=hwm.name)
        t0 = time.perf_counter()
        code = subprocess.call(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        text = Path(hwm.name).read_text().strip()
    return wall, (int(text) / 1024 if text else 0.0), code


def _median(argv: list[str], repeats: int, expect: int, before: object = None) -> tuple[float, float]:
    walls, rss = [], []
    for _ in range(repeats):
        if callable(before):
            before()
        wall, peak, code = _run(argv)
        if code != expect:
            raise SystemExit(f"{' '.join(argv)}: exit code {code}, expected {expect}")
        walls.append(wall)
        rss.append(peak)
    return statistics.median(walls), statistics.median(rss)


def _photo(folder: Path) -> Path:
    """A 640x360 JPEG: happy.jpg scaled to 360 px high on a grey canvas."""
    from PIL import Image

    from core import assets

    assets.ensure(["test-media"])
    face = Image.open(assets.asset_path("test-media", "happy.jpg")).convert("RGB").resize((360, 360))
    canvas = Image.new("RGB", (640, 360), (128, 128, 128))
    canvas.paste(face, (140, 0))
    path = folder / "src640.jpg"
    canvas.save(path, quality=92)
    return path


def _stages(photo: Path, out: Path) -> list[tuple[str, float]]:
    """The edit of ``photo`` in this process, timed stage by stage (ms)."""
    marks: list[tuple[str, float]] = []
    t = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        marks.append((name, 1e3 * (now - t)))
        t = now

    import torch

    torch.set_num_threads(1)
    mark("import torch")
    from core.editing.pipeline import EditPipeline
    from core.editing.spec import EditorSpec, build_editor
    from core.geometry.presets import find_preset
    from core.io import load_photo, save_image

    mark("import pipeline, editor, io")
    editor = build_editor(EditorSpec.warp())
    mark("build warp editor")
    pipeline = EditPipeline(editor=editor, crop_size=512)
    mark("pipeline (face networks)")
    image = load_photo(photo)
    mark("decode photo")
    source = pipeline.prepare_source(image)
    mark("prepare source (detect, mesh, fit)")
    reference = pipeline.prepare_preset(find_preset("happy"))
    mark("prepare preset")
    from core.editing.params import EditParams

    result = pipeline.render(source, reference, EditParams(alpha=1.0), full_resolution=True)
    mark("render full resolution")
    save_image(out, result.image, quality=95, overwrite=True)
    mark("save JPEG")
    return marks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-stages", action="store_true", help="skip the in-process stage breakdown")
    args = ap.parse_args()
    py = sys.executable
    gafet = [py, "-c", GAFET]
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        folder = Path(tmp)
        photo = _photo(folder)
        out = folder / "out.jpg"
        base, _ = _median([py, "-c", "pass"], args.repeats, 0)
        print(f"baseline_python_s   median={base:.3f}")
        rows = [
            ("help_s", gafet + ["--help"], 0, None),
            ("argument_error_s", gafet + ["edit", "-s", str(photo), "--preset", "happy", "--alpha", "3",
                                          "-o", str(out)], 1, None),
            ("refusal_missing_s", gafet + ["edit", "-s", str(folder / "missing.jpg"), "--preset", "happy",
                                           "-o", str(out)], 2, None),
            ("edit_640x360_s", gafet + ["edit", "-s", str(photo), "--preset", "happy", "-o", str(out)], 0,
             lambda: out.unlink(missing_ok=True)),
        ]
        for name, argv, expect, before in rows:
            wall, rss = _median(argv, args.repeats, expect, before)
            print(f"{name:<19} median={wall:.3f}  rss_mb={rss:.0f}  (x{wall / base:.1f} baseline)",
                  flush=True)
        if not args.no_stages:
            print("edit stages (one run, in process, ms):")
            for name, ms in _stages(photo, folder / "stage.jpg"):
                print(f"  {name:<36} {ms:8.0f}")


if __name__ == "__main__":
    main()
