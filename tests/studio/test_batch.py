"""Batch: the current reference and sliders applied to a folder, in a worker; bad files are listed
with their reason and skipped; the Studio's own state is untouched."""

from __future__ import annotations

import shutil

from core.io.photo import load_photo
from tests.helpers.studio import load_pair, wait_idle


def test_batch_edits_a_folder_and_reports_bad_files(qtbot, window, media, tmp_path) -> None:
    load_pair(qtbot, window, media)
    before = (window.session.source, window.session.result)
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(media.path("anger.jpg"), folder / "a.jpg")
    (folder / "b.jpg").write_text("not a photo")
    dialog = window.dialogs.make_batch_dialog()
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(folder))
    dialog.out_dir.setText(str(tmp_path / "out"))
    dialog.format.setCurrentText("PNG")
    with qtbot.waitSignal(dialog.finished_batch, timeout=180_000) as blocker:
        dialog.start()
    assert blocker.args == [1, 1, False], dialog.status.text()
    out = tmp_path / "out" / "a.png"
    assert load_photo(out).rgb.shape == load_photo(folder / "a.jpg").rgb.shape
    lines = [dialog.log.item(i).text() for i in range(dialog.log.count())]
    assert any(line.startswith("✔ a.jpg") for line in lines)
    assert any(line.startswith("✖ b.jpg") and "not an image" in line for line in lines)
    assert "1 edited, 1 skipped" in dialog.status.text()
    assert (window.session.source, window.session.result) == before
    wait_idle(qtbot, window)
