"""Start-up: the window shows before torch loads; torch and the networks then load in a worker,
and a photo dropped meanwhile waits in the queue (its panel shows the warm-up's progress) and is
analysed once they are ready."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from gafet_studio.app import EXIT_WHEN_SHOWN_ENV
from gafet_studio.main_window import MainWindow, schedule_first_run
from gafet_studio.session import Task
from gafet_studio.warmup import WarmUpProgress, warm_up_job
from tests.helpers.studio import drop, wait_idle

ROOT = Path(__file__).resolve().parents[2]

# The real entry point (gafet_studio.app.main, as `python main.py` runs it), with os._exit
# wrapped to say whether torch had been imported when the window first painted.
_PROBE = """
import os, sys
from gafet_studio import app
real_exit = os._exit
def probe_exit(code):
    print("torch_loaded=%d" % ("torch" in sys.modules), flush=True)
    real_exit(code)
os._exit = probe_exit
sys.exit(app.main([]))
"""


def test_the_window_shows_before_torch_loads(tmp_path) -> None:
    env = {
        **os.environ,
        EXIT_WHEN_SHOWN_ENV: "1",
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path),  # not the user's settings
        "OMP_NUM_THREADS": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    assert lines.get("torch_loaded") == "0", out.stdout
    assert int(lines["window_visible_ms"]) > 0, out.stdout


def test_a_drop_during_warm_up_is_queued_with_progress_then_analysed(qtbot, settings, app_assets, media):
    gate = threading.Event()

    def slow_warm_up(crop_size: int, progress) -> None:
        progress(WarmUpProgress(0.3, "Loading PyTorch…"))
        gate.wait(60)
        warm_up_job(crop_size, progress)

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.warmup.job = slow_warm_up
    try:
        w.show()
        schedule_first_run(w)  # after the first paint: the warm-up starts
        qtbot.waitUntil(lambda: w.warmup.progress.fraction == 0.3, timeout=10_000)
        assert w.session.busy(Task.WARMUP)
        drop(w.source_panel, [media.path("happy.jpg")])
        overlay = w.source_panel.progress
        qtbot.waitUntil(lambda: overlay.percent() is not None, timeout=5_000)
        assert overlay.percent() == 30 and "Queued" in overlay.text() and overlay.isVisible()
        assert w.session.source is None and w.session.busy(Task.SOURCE)
    finally:
        gate.set()
    qtbot.waitUntil(lambda: w.session.source is not None, timeout=180_000)
    wait_idle(qtbot, w)
    assert w.session.source.path == media.path("happy.jpg") and w.warmup.done
    assert overlay.percent() is None  # the card goes once the photo is analysed


def test_the_models_folder_is_found_without_torch_where_the_registry_looks() -> None:
    from core.editing.gafet import registry
    from gafet_studio import editors

    assert editors.models_folder() == registry.models_folder()
