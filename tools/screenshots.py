"""Write PNG screenshots of the Studio's main window in each state (offscreen, real photos).

    python tools/screenshots.py [OUT_DIR]        (default /tmp/gafet-screens)

States: 01-empty, 02-loaded (source + reference, intensity 0 %: the result is the source),
03-edited (intensity 100 %, before/after split, action units open, 3D preview), 04-error (a
photo without a face was dropped: the banner explains, the previous edit stays), 05-multi-face
(a group photo with numbered boxes and the face picker). Photos come from the test media
(``gafet assets fetch --group test``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def wait_for(app, condition: Callable[[], bool], timeout_s: float = 180.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the Studio did not reach the expected state in time")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="/tmp/gafet-screens", type=Path)
    ap.add_argument("--source", default="happy.jpg", help="test photo used as the source")
    ap.add_argument("--reference", default="surprise.jpg", help="test photo used as the reference")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings

    from core import assets
    from gafet_studio.app import create_application
    from gafet_studio.main_window import MainWindow
    from gafet_studio.settings import Settings

    assets.ensure(["face-detector", "face-mesh", "au-face-model", "test-media"])
    media = lambda name: assets.asset_path("test-media", name)  # noqa: E731
    app = create_application()
    tmp = tempfile.mkdtemp(prefix="gafet-screens-")
    window = MainWindow(settings=Settings(QSettings(f"{tmp}/s.ini", QSettings.Format.IniFormat)))
    window.resize(1440, 900)
    window.show()
    s, c = window.session, window.controller
    idle = lambda: not s.busy() and not getattr(window.preview3d.canvas, "busy", lambda: False)()  # noqa: E731
    written = []

    def shot(name: str) -> None:
        wait_for(app, idle)
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        written.append(path)

    wait_for(app, lambda: True)
    shot("01-empty")

    c.set_alpha(0.0)
    c.open_source(media(args.source))
    c.open_reference(media(args.reference))
    wait_for(app, lambda: s.result_is_current() and idle())
    shot("02-loaded")

    c.set_alpha(1.0)
    wait_for(app, lambda: s.result_is_current() and idle())
    window.result_view.split_slider.setValue(50)
    window.au_panel.set_expanded(True)
    shot("03-edited")

    c.open_source(media("no_face.jpg"))
    wait_for(app, lambda: window.banner.notice is not None and idle())
    shot("04-error")

    window.banner.dismiss()
    c.open_source(media("multi_face.jpg"))
    wait_for(app, lambda: s.source is not None and s.source.path.name == "multi_face.jpg" and idle())
    wait_for(app, lambda: s.result_is_current() and idle())
    window.result_view.split_slider.setValue(0)
    shot("05-multi-face")

    window.close()
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
