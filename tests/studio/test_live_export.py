"""Export with a progress dialog and Cancel: the dialog follows the worker's steps to 100 % and
closes; a cancelled export writes nothing (not even a temporary file) and says so."""

from __future__ import annotations

import shiboken6

from gafet_studio.jobs import ExportProgress, ExportRequest
from gafet_studio.widgets.export_dialog import ExportProgressDialog
from tests.helpers.studio import load_pair, wait_idle


def closed(dialog: ExportProgressDialog) -> bool:
    """The dialog closed (it deletes itself on close)."""
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


def test_export_progress_and_cancel(qtbot, window, media, tmp_path) -> None:
    engine = window.controller.engine
    dialog = ExportProgressDialog(engine, parent=window)
    dialog.show_progress(ExportProgress(0.42, "Encoding the PNG file…"))
    assert dialog.value() == 42 and dialog.labelText() == "Encoding the PNG file…"
    dialog.close()
    load_pair(qtbot, window, media)

    dialog = ExportProgressDialog(engine, parent=window)
    dialog.show()
    seen = []
    engine.exportProgress.connect(lambda p: seen.append(p.fraction))
    done = []
    engine.exported.connect(done.append)
    assert window.controller.export(ExportRequest(path=tmp_path / "out.png"))
    qtbot.waitUntil(lambda: bool(done), timeout=120_000)
    wait_idle(qtbot, window)
    assert done[0] == tmp_path / "out.png" and (tmp_path / "out.png").stat().st_size > 0
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == 1.0
    qtbot.waitUntil(lambda d=dialog: closed(d), timeout=5_000)

    # Cancel pressed while it renders: the worker stops at its next step, nothing is written
    dialog = ExportProgressDialog(engine, parent=window)
    dialog.show()
    notices = []
    window.session.notified.connect(notices.append)
    # (the Cancel button's click is the dialog's canceled signal)
    engine.exportProgress.connect(lambda p: dialog.canceled.emit() if p.fraction < 0.5 else None)
    assert window.controller.export(ExportRequest(path=tmp_path / "second.jpg"))
    qtbot.waitUntil(lambda: any("cancelled" in n.text for n in notices), timeout=120_000)
    wait_idle(qtbot, window)
    assert not done[1:]  # nothing more was exported
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".ini") == ["out.png"]
    assert all(n.level != "error" for n in notices)
    qtbot.waitUntil(lambda d=dialog: closed(d), timeout=5_000)
