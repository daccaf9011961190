"""Session, undo, settings and recent files: no photos needed."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from core.editing.params import EditParams
from core.editing.spec import WARP
from gafet_studio.controller import Controller
from gafet_studio.recent import RecentFiles
from gafet_studio.settings import Settings
from gafet_studio.undo import new_gesture


def test_settings_persist_across_instances(tmp_path) -> None:
    ini = str(tmp_path / "s.ini")
    s = Settings(QSettings(ini, QSettings.Format.IniFormat))
    s.set_export_format("WebP")
    s.set_export_quality(77)
    s.set_export_scope("crop")
    s.set_last_folder("open", tmp_path)
    s.set_editor(WARP)
    s.sync()
    again = Settings(QSettings(ini, QSettings.Format.IniFormat))
    assert again.export_format() == "WebP"
    assert again.export_quality() == 77
    assert again.export_scope() == "crop"
    assert again.last_folder("open") == str(tmp_path)
    # a folder that no longer exists falls back to home
    again.set_last_folder("export", tmp_path / "gone")
    assert again.last_folder("export") != str(tmp_path / "gone")


def test_recent_files_newest_first_unique_and_existing(tmp_path, settings) -> None:
    files = []
    for i in range(12):
        f = tmp_path / f"p{i}.jpg"
        f.write_bytes(b"x")
        files.append(f)
    recent = RecentFiles(settings, limit=10)
    for f in files:
        recent.add(f)
    recent.add(files[3])
    got = recent.files()
    assert got[0] == files[3].resolve()
    assert len(got) == 10 and len(set(got)) == 10
    files[11].unlink()
    assert files[11].resolve() not in recent.files()


def test_slider_drag_is_one_undo_step(qtbot, settings) -> None:
    c = Controller(settings=settings)
    g = new_gesture()
    for v in (0.9, 0.7, 0.5, 0.3):
        c.set_alpha(v, g)
    assert c.session.params.alpha == 0.3
    assert c.undo_stack.count() == 1
    c.set_alpha(0.2)  # a keyboard step: its own command
    assert c.undo_stack.count() == 2
    c.undo_stack.undo()
    assert c.session.params.alpha == 0.3
    c.undo_stack.undo()
    assert c.session.params == EditParams()
    c.undo_stack.redo()
    assert c.session.params.alpha == 0.3


def test_region_au_and_reset_are_undoable(qtbot, settings) -> None:
    c = Controller(settings=settings)
    c.set_region("mouth", 1.3)
    c.set_au("AU12", 0.8)
    assert c.session.params.region_weight("mouth") == 1.3
    assert c.session.params.au_override("AU12") == 0.8
    c.reset_params()
    assert c.session.params == EditParams()
    c.undo_stack.undo()
    assert c.session.params.au_override("AU12") == 0.8
    c.set_au("AU12", None)
    assert c.session.params.au_override("AU12") is None
    assert c.undo_stack.undoText() == "Change AU12"


def test_drag_back_to_start_leaves_no_step(qtbot, settings) -> None:
    c = Controller(settings=settings)
    g = new_gesture()
    c.set_alpha(0.5, g)
    c.set_alpha(1.0, g)
    assert c.undo_stack.count() == 0  # obsolete merged command is dropped


def test_settings_keep_the_editor_spec_and_ignore_a_bad_one(tmp_path, settings) -> None:
    from core.editing.spec import EditorSpec

    assert settings.editor() == WARP  # nothing stored yet
    spec = EditorSpec.gafet(tmp_path / "models" / "smiles.safetensors")
    settings.set_editor(spec)
    assert settings.editor() == spec
    assert settings.q.value("editor/id") == f"gafet:{tmp_path / 'models' / 'smiles.safetensors'}"
    settings.q.setValue("editor/id", "gafet@tpu:/x.safetensors")  # written by hand, or by a newer version
    assert settings.editor() == WARP


def test_busy_tasks_and_notice_levels_are_checked(qtbot) -> None:
    import pytest

    from gafet_studio.session import NoticeLevel, Session, Task
    from gafet_studio.widgets.status_bar import BUSY_TEXT

    assert set(BUSY_TEXT) == set(Task)  # the status bar names every task
    s = Session()
    s.set_busy(Task.EXPORT, True)
    assert s.busy("export") and s.busy()
    with pytest.raises(ValueError):
        s.set_busy("exporting", True)  # a misspelt task fails loudly
    with qtbot.waitSignal(s.notified) as blocker:
        s.notify(NoticeLevel.WARNING, "careful")
    assert blocker.args[0].level == "warning"
    with pytest.raises(ValueError):
        s.notify("fatal", "no such level")
