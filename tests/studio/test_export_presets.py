"""Export (full resolution, in a worker, never silently overwriting, never over an input) and
expression presets (save the current expression as JSON, load it back as the reference)."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtWidgets import QDialog

from core.io.photo import load_photo
from tests.helpers.studio import load_pair, wait_idle, wait_result


def _export(qtbot, window, path, fmt="PNG", scope="photo", quality=95):
    dialog = window.dialogs.make_export_dialog()
    dialog.format.setCurrentText(fmt)
    dialog.quality.setValue(quality)
    (dialog.full if scope == "photo" else dialog.crop).setChecked(True)
    dialog.path.setText(str(path))
    dialog.try_accept()
    return dialog


def _background_mask(shape, box, grow=0.6) -> np.ndarray:
    """True away from the face: outside the face box grown by ``grow`` of its size on each side."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    mask = np.ones((h, w), bool)
    ya, yb = max(0, int(y0 - grow * bh)), int(y1 + grow * bh)
    xa, xb = max(0, int(x0 - grow * bw)), int(x1 + grow * bw)
    mask[ya:yb, xa:xb] = False
    return mask


def test_export_full_resolution_keeps_the_background(qtbot, window, media, tmp_path) -> None:
    load_pair(qtbot, window, media, source="single_face.jpg", reference="surprise.jpg")
    s = window.session
    out = tmp_path / "edited.png"
    dialog = _export(qtbot, window, out)
    assert dialog.result() == QDialog.DialogCode.Accepted
    with qtbot.waitSignal(window.controller.engine.exported, timeout=120_000) as blocker:
        window.controller.export(dialog.request)
    wait_idle(qtbot, window)
    assert blocker.args[0] == out.absolute() and out.is_file()
    src = s.source.prepared.photo.rgb
    got = load_photo(out).rgb
    assert got.shape == src.shape  # full resolution
    bg = _background_mask(src.shape, s.source.boxes[s.source.face_index])
    assert bg.mean() > 0.2
    diff = np.abs(got.astype(int) - src.astype(int))[bg]
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 2
    face = ~bg
    assert np.abs(got.astype(int) - src.astype(int))[face].mean() > 0.2  # and the face did change
    assert any("Exported" in n.text for n in window.banner.history)
    # settings remember the choices
    assert window.settings.export_format() == "PNG"


def test_export_crop_jpeg_and_webp(qtbot, window, media, tmp_path) -> None:
    load_pair(qtbot, window, media)
    jpg = tmp_path / "crop"  # no suffix: the dialog adds the format's
    dialog = _export(qtbot, window, jpg, fmt="JPEG", scope="crop", quality=80)
    assert dialog.request.path.suffix == ".jpg" and dialog.request.quality == 80
    with qtbot.waitSignal(window.controller.engine.exported, timeout=120_000):
        window.controller.export(dialog.request)
    assert load_photo(tmp_path / "crop.jpg").rgb.shape == (512, 512, 3)
    webp = tmp_path / "full.webp"
    dialog = _export(qtbot, window, webp, fmt="WebP")
    with qtbot.waitSignal(window.controller.engine.exported, timeout=120_000):
        window.controller.export(dialog.request)
    assert load_photo(webp).rgb.shape[:2] == window.session.source.prepared.photo.rgb.shape[:2]
    wait_idle(qtbot, window)


def test_export_never_overwrites_silently_nor_the_source(qtbot, window, media, tmp_path, monkeypatch) -> None:
    load_pair(qtbot, window, media)
    existing = tmp_path / "taken.png"
    existing.write_bytes(b"keep me")
    asked = []
    dialog = window.dialogs.make_export_dialog()
    monkeypatch.setattr(dialog, "confirm_overwrite", lambda p: asked.append(p) or False)
    dialog.path.setText(str(existing))
    dialog.try_accept()
    assert asked == [existing] and dialog.request is None and "Not replaced" in dialog.error.text()
    assert existing.read_bytes() == b"keep me"
    # the source photo is refused outright, with or without confirmation
    monkeypatch.setattr(dialog, "confirm_overwrite", lambda p: True)
    dialog.format.setCurrentText("JPEG")
    dialog.path.setText(str(media.path("happy.jpg")))
    dialog.try_accept()
    assert dialog.request is None and "input" in dialog.error.text()
    # confirmed: replaced, in the worker
    dialog.format.setCurrentText("PNG")
    dialog.path.setText(str(existing))
    dialog.try_accept()
    assert dialog.request is not None and dialog.request.overwrite
    with qtbot.waitSignal(window.controller.engine.exported, timeout=120_000):
        window.controller.export(dialog.request)
    assert load_photo(existing).rgb.shape[:2] == window.session.source.prepared.photo.rgb.shape[:2]
    wait_idle(qtbot, window)


def test_save_and_load_an_expression_preset(qtbot, window, media, tmp_path) -> None:
    load_pair(qtbot, window, media, source="anger.jpg", reference="happy.jpg")
    s = window.session
    target = np.asarray(s.result.result.target_aus, float)
    saved = []
    window.controller.engine.presetSaved.connect(saved.append)
    window.controller.save_preset("big smile", tmp_path)
    qtbot.waitUntil(lambda: bool(saved) or not s.busy("preset"), timeout=60_000)
    assert saved, window.banner.text()
    path = saved[0]
    assert path == tmp_path / "big_smile.json"
    data = json.loads(path.read_text())  # plain JSON, no pickle
    assert data["name"] == "big smile" and set(data["aus"]) <= {f"AU{n:02d}" for n in range(1, 44)}
    # load it as the reference: the target expression is the one that was saved
    window.controller.open_reference(path)
    wait_result(qtbot, window, lambda: s.reference.kind == "preset")
    assert "big smile" in window.reference_panel.caption()
    # presets sit on the person's estimated neutral: the round trip restores the shown expression
    # wherever it is at or above that neutral
    neutral = s.source.prepared.fit.neutral_aus
    assert np.allclose(np.asarray(s.result.result.target_aus, float), np.maximum(target, neutral), atol=0.01)
    # the built-in presets are listed in the reference panel and load from there
    combo = window.reference_panel.presets
    names = [combo.itemText(i) for i in range(combo.count())]
    assert "surprise" in names and "happy" in names
    combo.activated.emit(names.index("surprise"))
    wait_result(qtbot, window, lambda: s.reference.label == "surprise")
    # a broken preset file: message, reference unchanged
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    ref = s.reference
    with qtbot.waitSignal(s.notified, timeout=60_000) as blocker:
        window.controller.open_reference(bad)
    wait_idle(qtbot, window)
    assert blocker.args[0].level == "error" and "bad.json" in blocker.args[0].text and s.reference is ref
