"""Studio responsiveness: slider-to-result latency, time to first result after a drop, peak memory.

    python benchmarks/bench_studio.py [--moves 20] [--megapixels 12]

Runs the real main window offscreen with the real pipeline (warp editor, 512² crop). The source
is a test portrait upscaled to about 12 MP, so every slider move renders the crop and pastes it
into a 12 MP photo, converts it for display and shows it. Prints figures; asserts nothing.

* slider → result: one slider move (the QSlider's valueChanged, through the controller, undo
  stack, session and the render worker) until the new picture is on screen: first the quick
  preview on a downscaled proxy, then the full-resolution picture once the slider rests; each
  move waits for the previous result (no coalescing), median and p95 over ``--moves`` moves.
* drag at 60 Hz: moves every 16 ms for 1 s, as a mouse drag does; how many renders ran, and the
  time from the last move to its result (what the user waits for when they stop dragging).
* first result after a drop: the drop of source + reference on the window until the first
  edited photo is shown, cold (face networks not loaded yet) and warm.
* peak memory: the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def wait_for(app, condition, timeout_s: float = 600.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("timed out waiting for the Studio")
        app.processEvents()
        time.sleep(0.0005)


def big_photo(src: Path, megapixels: float, out: Path) -> Path:
    import cv2
    import numpy as np

    from core.io.photo import load_photo
    from core.io.save import save_image

    rgb = load_photo(src).rgb
    h, w = rgb.shape[:2]
    s = (megapixels * 1e6 / (w * h)) ** 0.5
    big = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
    save_image(out, np.ascontiguousarray(big), quality=92, overwrite=True)
    return out


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--megapixels", type=float, default=12.0)
    args = ap.parse_args(argv)

    from PySide6.QtCore import QSettings

    from core import assets
    from gafet_studio.app import create_application
    from gafet_studio.engine import REFINE_DELAY_MS
    from gafet_studio.main_window import MainWindow
    from gafet_studio.proxy import PROXY_PIXELS
    from gafet_studio.settings import Settings

    assets.ensure(["face-detector", "face-mesh", "au-face-model", "test-media"])
    media = lambda name: assets.asset_path("test-media", name)  # noqa: E731
    tmp = Path(tempfile.mkdtemp(prefix="gafet-bench-"))
    app = create_application()
    window = MainWindow(
        settings=Settings(QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)), preview_software=True
    )
    window.resize(1440, 900)
    window.show()
    s, c = window.session, window.controller
    wait_for(app, lambda: True)

    # -- first result after a drop: cold (networks load), then warm ------------------------------
    t0 = time.perf_counter()
    c.open_paths([media("happy.jpg"), media("surprise.jpg")], "window")
    wait_for(app, lambda: s.result_is_current() and not s.busy())
    cold = time.perf_counter() - t0

    big = big_photo(media("single_face.jpg"), args.megapixels, tmp / "big.jpg")
    t0 = time.perf_counter()
    c.open_paths([big, media("anger.jpg")], "window")
    wait_for(
        app, lambda: s.source is not None and s.source.path == big and s.result_is_current() and not s.busy()
    )
    warm = time.perf_counter() - t0
    w, h = s.source.size
    editor = s.result.result.editor_name
    print(f"photo: {w}x{h} ({w * h / 1e6:.1f} MP), crop {c.engine.crop_size}², editor {editor}")
    print(
        f"first result after drop: cold {cold:.2f} s (loads the face networks), "
        f"warm {warm:.2f} s ({args.megapixels:.0f} MP source + 512² reference)"
    )

    # -- slider -> result latency --------------------------------------------------------------
    slider = window.sliders.intensity.slider
    first, full, parts = [], [], []
    for i in range(args.moves):
        value = 20 + (i * 37) % 130  # percent, never the same twice in a row
        if value == slider.value():
            value += 1
        t0 = time.perf_counter()
        slider.setValue(value)
        shown = lambda v=value: s.result is not None and round(s.result.params.alpha * 100) == v  # noqa: E731
        wait_for(app, shown)
        app.processEvents()  # the paint of the new picture
        first.append((time.perf_counter() - t0) * 1000)
        wait_for(app, lambda: s.result_is_current() and not s.busy("render"))
        app.processEvents()
        full.append((time.perf_counter() - t0) * 1000)
        parts.append(s.result.result.timings)
    for name, values in (("first picture (proxy preview)", first), ("full-resolution picture", full)):
        print(
            f"slider -> {name}, {args.moves} moves: median {statistics.median(values):.0f} ms, "
            f"p95 {pct(values, 95):.0f} ms, min {min(values):.0f} ms"
        )
    print(
        f"  (the full render waits for the sliders to rest {REFINE_DELAY_MS} ms; proxy above "
        f"{PROXY_PIXELS / 1e6:.0f} MP)"
    )
    med = lambda name: statistics.median(getattr(p, name) for p in parts)  # noqa: E731
    print(
        f"  full-resolution pipeline median: interpolate {med('interpolate_ms'):.0f} ms, "
        f"render {med('render_ms'):.0f} ms, editor {med('editor_ms'):.0f} ms, "
        f"paste {med('paste_ms'):.0f} ms, total {med('total_ms'):.0f} ms"
    )

    # -- a 60 Hz drag ---------------------------------------------------------------------------
    before = c.engine.render_coalesced()
    pictures = []
    s.resultChanged.connect(lambda r: pictures.append(r))
    t_end = time.perf_counter() + 1.0
    value, stall = 30, 0.0
    while time.perf_counter() < t_end:
        value = 30 + (value + 3) % 100
        a = time.perf_counter()
        slider.setValue(value)
        stall = max(stall, time.perf_counter() - a)
        step = time.perf_counter() + 0.016
        while time.perf_counter() < step:
            a = time.perf_counter()
            app.processEvents()
            stall = max(stall, time.perf_counter() - a)
    t_last = time.perf_counter()
    wait_for(app, lambda: s.result is not None and round(s.result.params.alpha * 100) == value)
    settle_preview = (time.perf_counter() - t_last) * 1000
    wait_for(app, lambda: s.result_is_current() and not s.busy("render"))
    settle = (time.perf_counter() - t_last) * 1000
    print(
        f"60 Hz drag for 1 s: {len(pictures)} pictures shown, {c.engine.render_coalesced() - before} "
        f"moves coalesced away; after the last move: its preview in {settle_preview:.0f} ms, "
        f"full resolution in {settle:.0f} ms; longest GUI-thread stall {stall * 1000:.0f} ms"
    )

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:.0f} MB")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
