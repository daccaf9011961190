"""GaFET checkpoints in the Studio: the editor selector, switching editors, bad models, Open Model.

The checkpoints are randomly initialised tiny-64 models written at test time into a models folder
the test controls (passed to the Controller, so the data home and its assets stay as they are).
Their pictures are noise; the plumbing (listing, loading in a worker, re-rendering through GaFET,
full-resolution paste-back, errors in the banner) is the real one.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from core.editing.gafet import registry as model_registry
from core.editing.spec import WARP, EditorSpec
from core.nets.checkpoint import save_checkpoint
from core.nets.config import preset
from core.nets.gafet import GaFET
from gafet_studio.controller import Controller
from tests.helpers.studio import drop, wait_idle, wait_result


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_tiny(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(path, GaFET(config=preset("tiny-64")))


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """tiny.safetensors (good), broken.safetensors (not a checkpoint: listed disabled) and
    damaged.safetensors (a sound header but altered weights: listed, fails when loaded)."""
    folder = tmp_path / "models"
    write_tiny(folder / "tiny.safetensors")
    (folder / "broken.safetensors").write_bytes(b"this is not a checkpoint" * 8)
    damaged = write_tiny(folder / "damaged.safetensors", seed=1)
    data = bytearray(damaged.read_bytes())
    data[-64:] = bytes(255 - b for b in data[-64:])  # the last tensor's bytes: the digest no longer matches
    damaged.write_bytes(bytes(data))
    return folder


@pytest.fixture
def studio(qtbot, settings, app_assets, models):
    from gafet_studio.main_window import MainWindow

    controller = Controller(settings=settings, models_folder=models)
    w = MainWindow(settings=settings, controller=controller)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def entries(window) -> list[tuple[str, bool, str]]:
    """(label, enabled, tooltip) of every selector entry."""
    combo = window.editor_selector.combo
    return [
        (combo.itemText(i), combo.model().item(i).isEnabled(), combo.itemData(i, Qt.ItemDataRole.ToolTipRole))
        for i in range(combo.count())
    ]


def choose(window, editor: EditorSpec) -> None:
    """Pick an entry of the selector, as a user does (the combo's ``activated``)."""
    combo = window.editor_selector.combo
    i = window.editor_selector.index_of(editor)
    assert i >= 0, f"{editor} is not listed"
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


def wait_error(qtbot, window) -> str:
    """Wait for an error in the banner and for the Studio to be idle; returns the message."""
    qtbot.waitUntil(lambda: window.banner.notice is not None and window.banner.notice.level == "error",
                    timeout=60_000)
    wait_idle(qtbot, window)
    return window.banner.notice.text


def test_selector_lists_models_and_renders_through_gafet(qtbot, studio, models, media,
                                                         monkeypatch) -> None:
    w, s = studio, studio.session
    loads_in = []  # the threads checkpoints are loaded in: never the GUI thread
    real_load = model_registry.load_editor

    def load_editor(*args, **kwargs):
        loads_in.append(threading.current_thread() is threading.main_thread())
        return real_load(*args, **kwargs)

    monkeypatch.setattr(model_registry, "load_editor", load_editor)
    qtbot.waitUntil(lambda: w.editor_selector.combo.count() == 4, timeout=60_000)
    listed = entries(w)
    assert [label for label, _, _ in listed] == [
        "Warp (built-in)", "GaFET: broken", "GaFET: damaged (tiny-64)", "GaFET: tiny (tiny-64)"]
    assert [enabled for _, enabled, _ in listed] == [True, False, True, True]
    assert "not a readable checkpoint" in listed[1][2] and "broken.safetensors" in listed[1][2]
    assert listed[3][2] == str(models / "tiny.safetensors")

    drop(w.source_panel, [media.path("anger.jpg")])
    drop(w.reference_panel, [media.path("surprise.jpg")])
    wait_result(qtbot, w)
    assert s.result.result.editor_name == "Warp (built-in)" and "Warp" in w.status_bar.editor_label.text()
    warp = s.result.result.image

    tiny = EditorSpec.gafet(models / "tiny.safetensors")
    choose(w, tiny)
    wait_result(qtbot, w, lambda: s.editor == tiny)
    assert s.editor_label() == "GaFET: tiny (tiny-64)"
    assert w.status_bar.editor_label.text() == "Editor: GaFET: tiny (tiny-64)"
    assert w.editor_selector.current_spec() == tiny
    assert s.result.result.editor_name == "GaFET: tiny (tiny-64)"
    assert w.controller.undo_stack.undoText() == "Use editor GaFET: tiny (tiny-64)"
    assert w.settings.editor() == tiny
    gafet = s.result.result.image
    photo = np.asarray(s.source.prepared.photo.rgb)
    assert gafet.shape == photo.shape == warp.shape  # the full photo, not the crop
    assert s.result.image.width() == s.source.size[0] and s.result.image.height() == s.source.size[1]
    x0, y0, x1, y1 = (int(round(v)) for v in s.source.boxes[0])
    inside = np.abs(gafet[y0:y1, x0:x1].astype(int) - warp[y0:y1, x0:x1].astype(int)).mean()
    assert inside > 10, inside  # an untrained generator's face: nothing like the warp

    # a bad checkpoint, forced (the selector lists it disabled): the banner, the editor stays
    shown = s.result
    broken = EditorSpec.gafet(models / "broken.safetensors")
    w.controller.choose_editor(broken)
    text = wait_error(qtbot, w)
    assert "broken.safetensors" in text and "stays 'GaFET: tiny (tiny-64)'" in text
    assert s.editor == tiny and w.editor_selector.current_spec() == tiny and s.result is shown
    assert w.status_bar.editor_label.text() == "Editor: GaFET: tiny (tiny-64)"

    # listed and enabled, but its weights fail the digest when loaded: the same
    w.banner.dismiss()
    choose(w, EditorSpec.gafet(models / "damaged.safetensors"))
    text = wait_error(qtbot, w)
    assert "damaged.safetensors is damaged" in text
    assert s.editor == tiny and w.editor_selector.current_spec() == tiny and s.result is shown
    assert w.settings.editor() == tiny

    assert loads_in and not any(loads_in)

    # undo: back to the warp editor and its (cached) picture
    w.menus.undo.trigger()
    assert s.editor == WARP and w.editor_selector.current_spec() == WARP
    assert s.result_is_current() and np.array_equal(s.result.result.image, warp)
    assert "Warp" in w.status_bar.editor_label.text()
    wait_idle(qtbot, w)


def test_open_model_lists_selects_and_remembers_it(qtbot, studio, tmp_path, monkeypatch) -> None:
    w, s = studio, studio.session
    qtbot.waitUntil(lambda: w.editor_selector.combo.count() == 4, timeout=60_000)
    other = write_tiny(tmp_path / "elsewhere" / "other.safetensors", seed=2)
    from gafet_studio import dialogs

    asked = []

    def fake_dialog(parent, caption, folder, filters):
        asked.append((caption, folder, filters))
        return str(other), filters.split(";;")[0]

    monkeypatch.setattr(dialogs.QFileDialog, "getOpenFileName", staticmethod(fake_dialog))
    assert w.menus.open_model in w.menuBar().actions()[0].menu().actions()  # File ▸ Open Model…
    w.editor_selector.open_button.click()  # the "…" button next to the selector
    other_id = EditorSpec.gafet(other)
    qtbot.waitUntil(lambda: s.editor == other_id, timeout=60_000)
    wait_idle(qtbot, w)
    assert asked and "*.safetensors" in asked[0][2] and asked[0][1] == str(w.controller.models_folder)
    assert w.editor_selector.current_spec() == other_id
    assert w.editor_selector.combo.currentText() == "GaFET: other (tiny-64)"
    assert w.status_bar.editor_label.text() == "Editor: GaFET: other (tiny-64)"
    assert w.editor_selector.combo.count() == 5
    assert w.controller.recent_models.files() == [other]
    assert w.settings.last_folder("model") == str(other.parent)

    # a rescan keeps it (a recent model), and a restarted Studio comes back with it
    w.controller.refresh_editors()
    wait_idle(qtbot, w)
    assert w.editor_selector.combo.count() == 5 and w.editor_selector.current_spec() == other_id

    from gafet_studio.main_window import MainWindow

    again = MainWindow(settings=w.settings, controller=Controller(settings=w.settings,
                                                                  models_folder=w.controller.models_folder))
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.session.editor == other_id and again.editor_selector.combo.count() == 5,
                    timeout=60_000)
    wait_idle(qtbot, again)
    assert again.controller.undo_stack.count() == 0  # restoring is not an undoable change
    assert again.status_bar.editor_label.text() == "Editor: GaFET: other (tiny-64)"

    # the remembered model is gone: the next start says so and uses the warp editor
    other.unlink()
    third = MainWindow(settings=w.settings, controller=Controller(settings=w.settings,
                                                                  models_folder=w.controller.models_folder))
    qtbot.addWidget(third)
    text = wait_error(qtbot, third)
    assert "other.safetensors" in text and "Warp (built-in)" in text
    assert third.session.editor == WARP and third.editor_selector.combo.count() == 4


def test_batch_job_runs_the_chosen_model(tmp_path, models, media, app_assets) -> None:
    """The batch dialog's worker body builds its pipeline with the session's editor id."""
    import shutil
    import threading as th

    from core.editing.params import EditParams
    from core.geometry.presets import builtin_preset
    from core.io import load_photo
    from core.nets.checkpoint import CheckpointCorruptError
    from gafet_studio.jobs import base_pipeline
    from gafet_studio.widgets.batch_dialog import BatchJob, run_batch_job

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(media.path("anger.jpg"), folder / "a.jpg")
    (tmp_path / "out").mkdir()  # the dialog makes it before starting the worker
    reference = base_pipeline(512).prepare_preset(builtin_preset("surprise"))

    def job(editor: EditorSpec) -> BatchJob:
        return BatchJob(folder=folder, out_dir=tmp_path / "out", extension=".png", quality=95, overwrite=True,
                        reference=reference, reference_path=None, params=EditParams(), editor=editor,
                        crop_size=128)

    events = []
    result = run_batch_job(job(EditorSpec.gafet(models / "tiny.safetensors")), th.Event(), events.append)
    assert result == (1, 0, False), [getattr(e[1], "error", None) for e in events]
    item = events[-1][1]
    assert item.ok and load_photo(item.output).rgb.shape == load_photo(folder / "a.jpg").rgb.shape
    with pytest.raises(CheckpointCorruptError, match="damaged.safetensors is damaged"):
        run_batch_job(job(EditorSpec.gafet(models / "damaged.safetensors")), th.Event(), events.append)
