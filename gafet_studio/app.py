"""QApplication set-up and the ``gafet-studio`` entry point."""

from __future__ import annotations

import os
import sys


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


def main(argv: list[str] | None = None) -> int:
    app = create_application(argv if argv is not None else sys.argv[1:])
    from gafet_studio.main_window import MainWindow, schedule_first_run

    window = MainWindow()
    install_excepthook(window)
    window.show()
    schedule_first_run(window)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
