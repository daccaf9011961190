"""First run: missing app assets are fetched in a worker behind a progress dialog; a failed fetch
explains itself (non-modal banner once the dialog is closed) and can be retried."""

from __future__ import annotations

import functools

from PySide6.QtWidgets import QDialog

from core.assets import AssetFetchError, FetchProgress
from gafet_studio import main_window as mw
from gafet_studio.main_window import MainWindow
from gafet_studio.widgets.fetch_dialog import FetchDialog


def _fake_fetch(ids, progress, fail=False):
    for i, a in enumerate(ids):
        progress(FetchProgress(i, len(ids), f"Fetching {a}"))
    if fail:
        raise AssetFetchError("Could not download mediapipe-0.10.21 from the package registry: offline.")
    progress(FetchProgress(len(ids), len(ids), "Assets ready"))


def test_fetch_dialog_shows_progress_and_closes(qtbot) -> None:
    dialog = FetchDialog(["face-detector", "face-mesh"], fetch=_fake_fetch)
    qtbot.addWidget(dialog)
    dialog.open()
    with qtbot.waitSignal(dialog.done_ok, timeout=10_000):
        dialog.start()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.label.text() == "Assets ready"
    assert dialog.bar.value() == dialog.bar.maximum()


def test_failed_fetch_explains_and_offers_retry(qtbot, settings, monkeypatch) -> None:
    monkeypatch.setattr(mw, "missing_assets", lambda: ["face-mesh"])
    monkeypatch.setattr(
        mw, "FetchDialog", functools.partial(FetchDialog, fetch=functools.partial(_fake_fetch, fail=True))
    )
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    w.ensure_assets()
    dialog = w.fetch_dialog
    qtbot.waitUntil(lambda: dialog.retry.isEnabled(), timeout=10_000)
    assert "offline" in dialog.label.text() and "offline" in dialog.failed_message
    dialog.reject()  # the user closes it: the window says why nothing can be analysed
    notice = w.banner.notice
    assert notice is not None and notice.level == "error"
    assert "not installed" in notice.text and "Fetch Face Models" in notice.text
