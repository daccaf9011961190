"""Studio responsiveness (issue 13): slider -> picture on screen, first result, window visible.

    python benchmarks/bench_studio.py [--moves 40] [--repeats 3] [--sizes 640x360,24mp] [--no-startup]

Drives the real Studio: the main window offscreen (1440 x 900), the real pipeline with the warp
editor (512² crop), one torch thread. Photos: a test portrait (``single_face.jpg``) cut to 16:9 and
resized to 640 x 360, and the same upscaled to 24 MP. The reference is ``surprise.jpg``.
Prints, first, exactly::

    slider_to_screen_ms median=… p95=…
    first_result_ms photo=640x360 median=…
    window_visible_ms median=…

then per-size and per-slider lines. Asserts nothing.

* **slider -> screen**: a continuous drag of each slider (intensity, the mouth region, AU12),
  one move every 16 ms (60 Hz) through the real ``QSlider`` (pressed, moved, released), as a mouse
  drag does. Each picture shown (``Session.resultChanged`` -> the window puts it in the view, then
  the view is repainted synchronously) counts from the move that asked for its parameters; moves
  replaced by newer ones before they ran are coalesced (never drawn, counted separately). Median
  and p95 over every picture of every slider and both sizes; ``release_to_full_ms``: from letting
  go until the exact full-resolution picture is on show; ``gui_stall_ms``: the longest time the
  GUI thread was busy in one go (a slot, a paint) during the drags.
* **first result**: dropping a source and the reference on the window (files not seen before:
  nothing cached; networks loaded, as after start-up) until the first picture of the edit is on
  screen (the live preview), and until the exact full-resolution one is.
* **export**: PNG, JPEG and WebP (quality 95) of each size through the Studio's export (the
  worker renders at full resolution, encodes, writes atomically), until it reports the file.
* **window visible**: ``python main.py`` in a subprocess with ``GAFET_EXIT_WHEN_SHOWN=1`` (the app
  prints the time from process start to its first paint and exits); median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MOVE_MS = 16.0  # a 60 Hz mouse drag


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))] if v else float("nan")


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def make_photos(folder: Path) -> dict[str, Path]:
    """The two test sources: 640x360 and ~24 MP (16:9), from single_face.jpg."""
    import cv2
    import numpy as np

    from core import assets
    from core.io.photo import load_photo
    from core.io.save import save_image

    rgb = load_photo(assets.asset_path("test-media", "single_face.jpg")).rgb
    h, w = rgb.shape[:2]
    ch = min(h, round(w * 9 / 16))
    cw = round(ch * 16 / 9)
    y0, x0 = max(0, (h - ch) // 3), (w - cw) // 2  # keep the face (upper part) in frame
    wide = rgb[y0:y0 + ch, x0:x0 + cw]
    small = cv2.resize(wide, (640, 360), interpolation=cv2.INTER_AREA)
    big = cv2.resize(wide, (6528, 3672), interpolation=cv2.INTER_CUBIC)  # 24.0 MP
    return {
        "640x360": save_image(folder / "src_640x360.png", np.ascontiguousarray(small)),
        "24mp": save_image(folder / "src_24mp.jpg", np.ascontiguousarray(big), quality=92),
    }


class Probe:
    """Times every picture the window shows (repainting the view synchronously, as the screen would)."""

    def __init__(self, app, window) -> None:
        self.app, self.window = app, window
        self.shown: list[tuple[float, object]] = []
        self.stall = 0.0
        window.session.resultChanged.connect(self._shown)

    def _shown(self, rendered) -> None:
        if rendered is None:
            return
        self.window.result_view.view.viewport().repaint()
        self.shown.append((time.perf_counter(), rendered))

    def pump(self, until: float) -> None:
        """Process events until ``until`` (perf_counter), tracking the longest single busy spell."""
        while time.perf_counter() < until:
            a = time.perf_counter()
            self.app.processEvents()
            self.stall = max(self.stall, time.perf_counter() - a)
            time.sleep(0.0005)

    def wait(self, condition, timeout_s: float = 600.0) -> None:
        end = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError("timed out waiting for the Studio")
            a = time.perf_counter()
            self.app.processEvents()
            self.stall = max(self.stall, time.perf_counter() - a)
            time.sleep(0.0005)


def drag(probe: Probe, percent_slider, values: list[int], params_of) -> dict[str, object]:
    """Drag ``percent_slider`` through ``values`` at 60 Hz; returns latencies and counts."""
    s = probe.window.session
    qs = percent_slider.slider
    asked: dict[object, float] = {}
    probe.shown.clear()
    probe.stall = 0.0
    gui_cpu = time.thread_time()
    qs.setSliderDown(True)
    for v in values:
        t = time.perf_counter()
        a = time.perf_counter()
        qs.setValue(v)
        probe.stall = max(probe.stall, time.perf_counter() - a)
        asked.setdefault(params_of(s.params), t)
        probe.pump(t + MOVE_MS / 1000)
    qs.setSliderDown(False)
    released = time.perf_counter()
    gui_cpu = (time.thread_time() - gui_cpu) * 1000
    last = s.params
    probe.wait(lambda: s.result is not None and s.result.params == last and s.result.preview is False)
    full = (time.perf_counter() - released) * 1000
    latencies = [
        (t - asked[params_of(r.params)]) * 1000
        for t, r in probe.shown
        if r.preview and params_of(r.params) in asked and t >= asked[params_of(r.params)]
    ]
    pictures = sum(1 for _, r in probe.shown if r.preview)
    parts = [r.result.timings for _, r in probe.shown if r.preview]
    cpu = [r.result.cpu_ms for _, r in probe.shown if r.preview]
    return {"latencies": latencies, "pictures": pictures, "moves": len(values), "release_to_full": full,
            "stall": probe.stall * 1000, "parts": parts, "worker_cpu": cpu,
            "gui_cpu_per_picture": gui_cpu / max(1, pictures)}


def window_visible(repeats: int) -> list[float]:
    out = []
    env = {**os.environ, "GAFET_EXIT_WHEN_SHOWN": "1", "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "main.py")], env=env, capture_output=True,
                              text=True, timeout=120, cwd=ROOT)
        wall = (time.perf_counter() - t0) * 1000
        lines = proc.stdout.splitlines()
        reported = [ln.split("=", 1)[1] for ln in lines if ln.startswith("window_visible_ms=")]
        out.append(float(reported[0]) if reported else wall)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=40, help="moves per slider drag (60 Hz)")
    ap.add_argument("--repeats", type=int, default=3, help="first-result drops and window launches")
    ap.add_argument("--sizes", default="640x360,24mp")
    ap.add_argument("--no-startup", action="store_true", help="skip window_visible_ms")
    ap.add_argument("--no-export", action="store_true", help="skip the export timings")
    ap.add_argument("--preview3d-at-rest", action="store_true",
                    help="what-if: the software 3D preview follows exact pictures only, not live ones")
    args = ap.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]

    import torch

    torch.set_num_threads(1)
    from PySide6.QtCore import QSettings

    from core import assets
    from gafet_studio.app import create_application
    from gafet_studio.jobs import ExportRequest
    from gafet_studio.main_window import MainWindow
    from gafet_studio.settings import Settings

    assets.ensure(["face-detector", "face-mesh", "au-face-model", "test-media"])
    tmp = Path(tempfile.mkdtemp(prefix="gafet-bench-"))
    photos = make_photos(tmp)
    reference = Path(assets.asset_path("test-media", "surprise.jpg"))
    app = create_application()
    window = MainWindow(
        settings=Settings(QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)), preview_software=True
    )
    window.resize(1440, 900)
    window.show()
    probe = Probe(app, window)
    s, c = window.session, window.controller
    if args.preview3d_at_rest:
        follow = window.preview3d.set_meshes

        def at_rest(meshes) -> None:
            if s.result is None or not s.result.preview:
                follow(meshes)

        window.preview3d.set_meshes = at_rest
    probe.pump(time.perf_counter() + 0.3)
    viewport = window.result_view.view.viewport()
    ratio = window.devicePixelRatioF()
    c.engine.set_view_size(round(viewport.width() * ratio), round(viewport.height() * ratio))

    # warm: the networks load once (start-up's job), on a pair not used below
    c.open_paths([assets.asset_path("test-media", "happy.jpg"), assets.asset_path("test-media", "anger.jpg")],
                 "window")
    probe.wait(lambda: s.result_is_current() and not s.busy())

    first: dict[str, tuple[list[float], list[float]]] = {}
    exports: dict[str, dict[str, float | str]] = {}
    drags: dict[str, dict[str, dict[str, object]]] = {}
    for size in sizes:
        previews, fulls = [], []
        for i in range(args.repeats):
            src = tmp / f"{size}_{i}{photos[size].suffix}"  # a new file: nothing cached
            ref = tmp / f"ref_{size}_{i}.jpg"
            shutil.copy(photos[size], src)
            shutil.copy(reference, ref)
            probe.shown.clear()
            t0 = time.perf_counter()
            c.open_paths([src, ref], "window")
            probe.wait(lambda src=src, ref=ref: s.source is not None and s.source.path == src
                       and s.reference is not None and s.reference.path == ref and s.result is not None)
            previews.append((time.perf_counter() - t0) * 1000)
            probe.wait(lambda: s.result_is_current() and not s.busy("render"))
            fulls.append((time.perf_counter() - t0) * 1000)
        first[size] = (previews, fulls)
        w, h = s.source.size
        values = [100 + round(40 * math.sin(k / 6)) for k in range(args.moves)]
        drags[size] = {
            "intensity": drag(probe, window.sliders.intensity, values, lambda p: p.alpha),
            "region(mouth)": drag(probe, window.sliders.regions["mouth"], values,
                                  lambda p: p.region_weight("mouth")),
            "AU12": drag(probe, window.au_panel.sliders["AU12"], [v // 2 for v in values],
                         lambda p: p.au_override("AU12")),
        }
        c.reset_params()
        probe.wait(lambda: s.result_is_current() and not s.busy("render"))
        drags[size]["_photo"] = f"{w}x{h}"  # type: ignore[assignment]
        if not args.no_export:
            exports[size] = {}
            for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg"), ("WebP", ".webp")):
                done: list[object] = []
                failed: list[object] = []
                c.engine.exported.connect(done.append)

                def on_failed(task, exc, failed=failed) -> None:
                    failed.append(exc)

                c.engine.failed.connect(on_failed)
                t0 = time.perf_counter()
                c.export(ExportRequest(path=tmp / f"export_{size}{suffix}", quality=95))
                probe.wait(lambda done=done: bool(done) or not s.busy("export"))
                ms = (time.perf_counter() - t0) * 1000
                probe.wait(lambda: not s.busy("export"))  # the worker has finished: the next may start
                exports[size][fmt] = ms if done else f"failed ({failed[-1] if failed else 'no file'})"
                c.engine.exported.disconnect(done.append)
                c.engine.failed.disconnect(on_failed)

    every = [x for d in drags.values() for k, r in d.items() if k != "_photo" for x in r["latencies"]]
    print(f"slider_to_screen_ms median={med(every):.1f} p95={pct(every, 95):.1f}")
    label = "640x360" if "640x360" in first else sizes[0]
    print(f"first_result_ms photo={label} median={med(first[label][0]):.0f}")
    visible = [] if args.no_startup else window_visible(args.repeats)
    print(f"window_visible_ms median={med(visible):.0f}")

    from gafet_studio.widgets.preview3d import MESH_UPDATE_MS

    follows = f"following the pictures at most every {MESH_UPDATE_MS} ms"
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, torch threads "
          f"{torch.get_num_threads()}, view {c.engine.view_size()[0]}x{c.engine.view_size()[1]} px, "
          f"{args.moves} moves per drag at 60 Hz, software 3D preview "
          f"{'at rest only (what-if)' if args.preview3d_at_rest else follows}")
    for size in sizes:
        previews, fulls = first[size]
        print(f"first_result_ms photo={drags[size]['_photo']} preview_median={med(previews):.0f} "
              f"full_median={med(fulls):.0f}")
        for name, r in drags[size].items():
            if name == "_photo":
                continue
            lat, parts = r["latencies"], r["parts"]
            flow = med([p.render_ms for p in parts])
            paste = med([p.paste_ms for p in parts])
            print(f"slider_to_screen_ms photo={drags[size]['_photo']} slider={name} median={med(lat):.1f} "
                  f"p95={pct(lat, 95):.1f} pictures={r['pictures']}/{r['moves']} moves "
                  f"release_to_full_ms={r['release_to_full']:.0f} gui_stall_ms={r['stall']:.1f}")
            print(f"  worker per picture: flow {flow:.1f} ms, display composite {paste:.1f} ms wall, "
                  f"{med(r['worker_cpu']):.1f} ms CPU; GUI thread CPU per picture "
                  f"{r['gui_cpu_per_picture']:.1f} ms (slots, conversion, paint)")
        for fmt, ms in exports.get(size, {}).items():
            shown = ms if isinstance(ms, str) else f"{ms:.0f}"
            print(f"export_ms photo={drags[size]['_photo']} format={fmt} ms={shown} "
                  "(render + encode + write, through the Studio's export worker)")
    if visible:
        print(f"window_visible_ms runs={','.join(f'{v:.0f}' for v in visible)}")
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
