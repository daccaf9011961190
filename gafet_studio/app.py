"""QApplication set-up and the ``gafet-studio`` entry point.

Start-up shows the window first: nothing imported before the window paints loads torch or a
network (``tests/studio/test_startup.py`` checks). Once the window has painted, the face models
are fetched if missing, and torch and the face networks load in a worker
(:class:`~gafet_studio.warmup.WarmUp`); photos dropped meanwhile wait for it with their progress
on show.

``GAFET_EXIT_WHEN_SHOWN=1`` (for ``benchmarks/bench_studio.py``): print
``window_visible_ms=<ms>`` (milliseconds from the process's start to the window's first paint)
and exit at once, without loading anything else or saving settings.
"""

from __future__ import annotations

import os
import sys
import time

EXIT_WHEN_SHOWN_ENV = "GAFET_EXIT_WHEN_SHOWN"
_IMPORTED_AT = time.monotonic()  # fallback start time where the OS cannot tell the process's age


def process_age_ms() -> float:
    """Milliseconds since this process started (Linux: from /proc, 10 ms resolution; elsewhere:
    since this module was imported)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as f:
            uptime_s = float(f.read().split()[0])
        started_s = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time in clock ticks
        return max(0.0, (uptime_s - started_s) * 1000.0)
    except (OSError, ValueError, IndexError):
        return (time.monotonic() - _IMPORTED_AT) * 1000.0


def prepare_qt_environment() -> None:
    """Undo what other libraries do to Qt's environment before a QApplication exists.

    ``import cv2`` points ``QT_QPA_PLATFORM_PLUGIN_PATH`` at its bundled Qt 5 plugins, which
    PySide6 (Qt 6) must not load.
    """
    os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)


def create_application(argv: list[str] | None = None):
    """Return the process's QApplication, creating it if needed."""
    prepare_qt_environment()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(["gafet-studio", *(argv or [])])
        app.setApplicationName("GaFET Studio")
        app.setOrganizationName("GaFET")
    return app


def install_excepthook(window) -> None:
    """Show unexpected errors in the window's banner (and log them) instead of dying silently."""
    import logging
    import traceback

    from gafet_studio.session import NoticeLevel

    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        logging.getLogger("gafet_studio").error("".join(traceback.format_exception(kind, value, tb)))
        try:
            window.session.notify(
                NoticeLevel.ERROR,
                f"Unexpected error ({kind.__name__}: {value}). "
                "The previous state was kept; details are in the log.",
            )
        except RuntimeError:  # the window is gone
            previous(kind, value, tb)

    sys.excepthook = hook


def exit_when_shown(window) -> None:
    """After the window's first paint (the whole window: the event loop's next turn, once every
    child has painted and the frame was flushed): print ``window_visible_ms=<ms since process
    start>`` and exit."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    def report() -> None:
        print(f"window_visible_ms={process_age_ms():.0f}", flush=True)
        os._exit(0)  # nothing else to wait for: no settings to save, no workers started

    class FirstPaint(QObject):
        def eventFilter(self, watched, event) -> bool:
            if event.type() == QEvent.Type.Paint:
                watched.removeEventFilter(self)
                QTimer.singleShot(0, report)
            return False

    window.installEventFilter(FirstPaint(window))


def main(argv: list[str] | None = None) -> int:
    app = create_application(argv if argv is not None else sys.argv[1:])
    from gafet_studio.main_window import MainWindow, schedule_first_run

    window = MainWindow()
    install_excepthook(window)
    exit_early = os.environ.get(EXIT_WHEN_SHOWN_ENV) == "1"
    if exit_early:
        exit_when_shown(window)
    window.show()
    if not exit_early:
        schedule_first_run(window)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
